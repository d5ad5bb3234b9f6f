package org.nextpatch.tribuo;

import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.DynamicMessage;
import com.google.protobuf.WireFormat;
import org.nextpatch.tensor.Tensor;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Writes a Tribuo {@code ModelProto} whose {@code NppModelProto} carries the weights inline straight
 * to a stream, tensor by tensor, without building the message in memory (protobuf would hold the
 * whole model twice: once as the message, once as the {@code Any}'s bytes). The bytes parse to the same
 * message as {@code NppModel.serialize()} gives: the fields other than the weights first, then each
 * {@code TensorProto} with its {@code data} last.
 */
final class InlineModelWriter {
    private static final int LEN = WireFormat.WIRETYPE_LENGTH_DELIMITED;
    private static final int CHUNK = 1 << 20;

    private InlineModelWriter() {
    }

    /**
     * @param out       where the model proto goes
     * @param className the model class (Tribuo's redirect)
     * @param header    the {@code NppModelProto} fields other than the weights
     * @param weights   the tensors by name
     * @param stored    how each tensor is stored (its type), in order ({@link ModelWeightsFile#digest})
     */
    static void write(OutputStream out, String className, DynamicMessage header, Map<String, Tensor> weights,
                      List<ModelWeightsFile.Entry> stored) throws IOException {
        List<byte[]> heads = new ArrayList<>(stored.size());
        List<Long> lengths = new ArrayList<>(stored.size());
        long value = header.getSerializedSize();
        for (ModelWeightsFile.Entry e : stored) {
            DynamicMessage.Builder t = NppProtos.builder(NppProtos.TENSOR)
                    .setField(NppProtos.f(NppProtos.TENSOR, "name"), e.name())
                    .setField(NppProtos.f(NppProtos.TENSOR, "dtype"), e.dtype().name());
            for (long d : e.shape()) {
                t.addRepeatedField(NppProtos.f(NppProtos.TENSOR, "shape"), d);
            }
            byte[] head = t.build().toByteArray();
            long len = head.length + CodedOutputStream.computeTagSize(4) + CodedOutputStream.computeUInt64SizeNoTag(e.bytes())
                    + e.bytes();
            heads.add(head);
            lengths.add(len);
            value += CodedOutputStream.computeTagSize(3) + CodedOutputStream.computeUInt64SizeNoTag(len) + len;
        }
        String typeUrl = "type.googleapis.com/" + NppProtos.NPP_MODEL.getFullName();
        long any = CodedOutputStream.computeStringSize(1, typeUrl) + CodedOutputStream.computeTagSize(2)
                + CodedOutputStream.computeUInt64SizeNoTag(value) + value;
        long total = CodedOutputStream.computeStringSize(2, className) + CodedOutputStream.computeTagSize(3)
                + CodedOutputStream.computeUInt64SizeNoTag(any) + any;
        if (total > Integer.MAX_VALUE) {
            throw new IllegalStateException("the model proto would have " + total + " bytes, more than protobuf reads");
        }
        CodedOutputStream cos = CodedOutputStream.newInstance(out, 1 << 16);
        // ModelProto: version 0 is proto3's default and not written; class_name = 2; serialized_data = 3 (an Any)
        cos.writeString(2, className);
        cos.writeTag(3, LEN);
        cos.writeUInt64NoTag(any);
        cos.writeString(1, typeUrl);
        cos.writeTag(2, LEN);
        cos.writeUInt64NoTag(value);
        header.writeTo(cos);
        ByteBuffer chunk = ByteBuffer.allocateDirect(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < stored.size(); i++) {
            ModelWeightsFile.Entry e = stored.get(i);
            cos.writeTag(3, LEN); // NppModelProto.weights
            cos.writeUInt64NoTag(lengths.get(i));
            cos.writeRawBytes(heads.get(i));
            cos.writeTag(4, LEN); // TensorProto.data
            cos.writeUInt64NoTag(e.bytes());
            // write(ByteBuffer) takes the bytes from position to limit (writeRawBytes would take the whole capacity)
            ModelWeightsFile.chunks(weights.get(e.name()), e.dtype(), chunk, cos::write);
        }
        cos.flush();
    }
}
