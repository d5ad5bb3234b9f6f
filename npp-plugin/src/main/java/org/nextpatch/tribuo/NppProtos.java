package org.nextpatch.tribuo;

import com.google.protobuf.Any;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.DescriptorProtos.DescriptorProto;
import com.google.protobuf.DescriptorProtos.FieldDescriptorProto;
import com.google.protobuf.DescriptorProtos.FieldDescriptorProto.Label;
import com.google.protobuf.DescriptorProtos.FieldDescriptorProto.Type;
import com.google.protobuf.DescriptorProtos.FileDescriptorProto;
import com.google.protobuf.Descriptors;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.DynamicMessage;

/**
 * The protobuf messages the Tribuo integration stores inside Tribuo's redirect protos
 * ({@code OutputProto}, {@code OutputDomainProto}, {@code OutputFactoryProto}, {@code ModelProto}).
 * <p>
 * The build has no {@code protoc}, so the schema is declared here with protobuf's own descriptor
 * classes and the messages are {@link DynamicMessage}s. On the wire they are ordinary protobuf
 * messages; the equivalent {@code .proto} text (package {@code nextpatch.tribuo}, proto3) is:
 * <pre>
 * message TokenGridProto     { int32 grid_side = 1; repeated int32 tokens = 2; double score = 3; }
 * message TokenGridInfoProto { int32 grid_side = 1; int32 vocab_seen = 2; int64 count = 3;
 *                              int64 unknown_count = 4; bool immutable = 5; }
 * message TokenGridFactoryProto { }
 * message TensorProto        { string name = 1; string dtype = 2; repeated int64 shape = 3; bytes data = 4;
 *                              int64 offset = 5; }     // in the weights file, when data is external
 * message NppModelProto      { bytes model_data = 1;          // tribuo.core.ModelDataProto
 *                              string gpt_config_json = 2; repeated TensorProto weights = 3;
 *                              string settings_json = 4;
 *                              // external weights (version 1): file name beside the model file,
 *                              // its size and SHA-256, and its absolute path when saved
 *                              string weights_file = 5; int64 weights_bytes = 6; string weights_sha256 = 7;
 *                              string weights_saved_path = 8; }
 * </pre>
 * Any-packed messages carry the type URL {@code type.googleapis.com/nextpatch.tribuo.NAME}.
 */
public final class NppProtos {

    /** {@code TokenGridProto}. */
    public static final Descriptor TOKEN_GRID;
    /** {@code TokenGridInfoProto}. */
    public static final Descriptor TOKEN_GRID_INFO;
    /** {@code TokenGridFactoryProto}. */
    public static final Descriptor TOKEN_GRID_FACTORY;
    /** {@code TensorProto}. */
    public static final Descriptor TENSOR;
    /** {@code NppModelProto}. */
    public static final Descriptor NPP_MODEL;

    static {
        FileDescriptorProto file = FileDescriptorProto.newBuilder()
                .setName("nextpatch/tribuo.proto")
                .setPackage("nextpatch.tribuo")
                .setSyntax("proto3")
                .addMessageType(message("TokenGridProto",
                        field("grid_side", 1, Type.TYPE_INT32, false),
                        field("tokens", 2, Type.TYPE_INT32, true),
                        field("score", 3, Type.TYPE_DOUBLE, false)))
                .addMessageType(message("TokenGridInfoProto",
                        field("grid_side", 1, Type.TYPE_INT32, false),
                        field("vocab_seen", 2, Type.TYPE_INT32, false),
                        field("count", 3, Type.TYPE_INT64, false),
                        field("unknown_count", 4, Type.TYPE_INT64, false),
                        field("immutable", 5, Type.TYPE_BOOL, false)))
                .addMessageType(message("TokenGridFactoryProto"))
                .addMessageType(message("TensorProto",
                        field("name", 1, Type.TYPE_STRING, false),
                        field("dtype", 2, Type.TYPE_STRING, false),
                        field("shape", 3, Type.TYPE_INT64, true),
                        field("data", 4, Type.TYPE_BYTES, false),
                        field("offset", 5, Type.TYPE_INT64, false)))
                .addMessageType(message("NppModelProto",
                        field("model_data", 1, Type.TYPE_BYTES, false),
                        field("gpt_config_json", 2, Type.TYPE_STRING, false),
                        field("weights", 3, Type.TYPE_MESSAGE, true).toBuilder()
                                .setTypeName(".nextpatch.tribuo.TensorProto").build(),
                        field("settings_json", 4, Type.TYPE_STRING, false),
                        field("weights_file", 5, Type.TYPE_STRING, false),
                        field("weights_bytes", 6, Type.TYPE_INT64, false),
                        field("weights_sha256", 7, Type.TYPE_STRING, false),
                        field("weights_saved_path", 8, Type.TYPE_STRING, false)))
                .build();
        try {
            Descriptors.FileDescriptor fd = Descriptors.FileDescriptor.buildFrom(file, new Descriptors.FileDescriptor[0]);
            TOKEN_GRID = fd.findMessageTypeByName("TokenGridProto");
            TOKEN_GRID_INFO = fd.findMessageTypeByName("TokenGridInfoProto");
            TOKEN_GRID_FACTORY = fd.findMessageTypeByName("TokenGridFactoryProto");
            TENSOR = fd.findMessageTypeByName("TensorProto");
            NPP_MODEL = fd.findMessageTypeByName("NppModelProto");
        } catch (Descriptors.DescriptorValidationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private NppProtos() {
    }

    private static DescriptorProto message(String name, FieldDescriptorProto... fields) {
        DescriptorProto.Builder b = DescriptorProto.newBuilder().setName(name);
        for (FieldDescriptorProto f : fields) {
            b.addField(f);
        }
        return b.build();
    }

    private static FieldDescriptorProto field(String name, int number, Type type, boolean repeated) {
        return FieldDescriptorProto.newBuilder().setName(name).setNumber(number).setType(type)
                .setLabel(repeated ? Label.LABEL_REPEATED : Label.LABEL_OPTIONAL).build();
    }

    /** The field of a message type, failing loudly on a typo. */
    public static FieldDescriptor f(Descriptor type, String name) {
        FieldDescriptor fd = type.findFieldByName(name);
        if (fd == null) {
            throw new IllegalStateException("no field " + name + " in " + type.getFullName());
        }
        return fd;
    }

    /** A new builder for a message type. */
    public static DynamicMessage.Builder builder(Descriptor type) {
        return DynamicMessage.newBuilder(type);
    }

    /**
     * Unpacks an {@link Any} that must hold a message of the given type.
     *
     * @throws IllegalArgumentException when the Any holds another type or does not parse
     */
    public static DynamicMessage unpack(Any any, Descriptor type) {
        String expected = "type.googleapis.com/" + type.getFullName();
        if (!expected.equals(any.getTypeUrl())) {
            throw new IllegalArgumentException("expected a " + type.getFullName() + " message, found type URL '"
                    + any.getTypeUrl() + "'");
        }
        try {
            // bytes fields share the Any's bytes instead of copying them (a model's inline weights)
            CodedInputStream in = any.getValue().newCodedInput();
            in.enableAliasing(true);
            return DynamicMessage.parseFrom(type, in);
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("corrupt " + type.getFullName() + " message: " + e.getMessage(), e);
        }
    }

    /** Reads an int32 field. */
    public static int getInt(DynamicMessage m, String name) {
        return (Integer) m.getField(f(m.getDescriptorForType(), name));
    }

    /** Reads an int64 field. */
    public static long getLong(DynamicMessage m, String name) {
        return (Long) m.getField(f(m.getDescriptorForType(), name));
    }

    /** Reads a double field. */
    public static double getDouble(DynamicMessage m, String name) {
        return (Double) m.getField(f(m.getDescriptorForType(), name));
    }

    /** Reads a bool field. */
    public static boolean getBool(DynamicMessage m, String name) {
        return (Boolean) m.getField(f(m.getDescriptorForType(), name));
    }

    /** Reads a string field. */
    public static String getString(DynamicMessage m, String name) {
        return (String) m.getField(f(m.getDescriptorForType(), name));
    }

    /** Checks the version number of a redirect proto. */
    public static void checkVersion(int version, int supported, String className) {
        if (version < 0 || version > supported) {
            throw new IllegalArgumentException("Unknown version " + version + " of " + className
                    + ", this class supports at most version " + supported);
        }
    }
}
