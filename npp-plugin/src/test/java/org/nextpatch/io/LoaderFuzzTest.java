package org.nextpatch.io;

import com.code_intelligence.jazzer.junit.FuzzTest;
import org.nextpatch.config.GptConfig;
import org.nextpatch.config.VqConfig;
import org.nextpatch.tensor.Npy;
import org.nextpatch.util.NppException;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Coverage-guided fuzz targets (Jazzer) for the loaders of untrusted files. Each accepts the input or
 * refuses it with an {@link NppException}; anything else (another exception, a stack overflow, a
 * hang, memory exhaustion) is a finding. Without {@code JAZZER_FUZZ} only the seed corpus under
 * {@code src/test/resources/org/nextpatch/io/LoaderFuzzTestInputs/TARGET} runs, as ordinary tests;
 * {@code docs/fuzzing.md} gives the command that fuzzes a target for a bounded time.
 */
class LoaderFuzzTest {
    private static final Path SCRATCH = scratch();

    private static Path scratch() {
        try {
            Path d = Files.createTempDirectory("npp-fuzz");
            d.toFile().deleteOnExit();
            return d;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Path file(String name, byte[] data) {
        Path p = SCRATCH.resolve(name);
        try {
            Files.write(p, data);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        p.toFile().deleteOnExit();
        return p;
    }

    /** A whole checkpoint file: zip directory, entries, pickle, storages, CRC and non-finite pass. */
    @FuzzTest(maxDuration = "10m")
    void checkpoint(byte[] data) {
        try {
            TorchCheckpoint.Loaded l = TorchCheckpoint.load(file("fuzz.pt", data), new TorchCheckpoint.Options(true, true));
            Unpickler.brief(l.root());
        } catch (NppException expected) {
            // a refusal is a correct answer
        }
    }

    /** The pickle machine alone (most checkpoint bytes the fuzzer makes never get past the zip reader). */
    @FuzzTest(maxDuration = "10m")
    void pickle(byte[] data) {
        Unpickler.Hooks hooks = new Unpickler.Hooks() {
            @Override
            public Object persistentLoad(Object pid) {
                return pid;
            }

            @Override
            public Object call(Unpickler.Global g, PickleTuple args) {
                return Unpickler.UNHANDLED;
            }
        };
        try {
            Object o = new Unpickler(ByteBuffer.wrap(data), "fuzz", hooks).load();
            Unpickler.brief(o);
        } catch (NppException expected) {
            // refused
        }
    }

    /** A {@code .npy} file: header parsing, sizes, and the data read. */
    @FuzzTest(maxDuration = "10m")
    void npy(byte[] data) {
        try {
            Npy.readHeader(new ByteArrayInputStream(data), "fuzz");
            Npy.read(file("fuzz.npy", data));
        } catch (NppException expected) {
            // refused
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The GPT and VQ configuration files (JSON). */
    @FuzzTest(maxDuration = "10m")
    void config(byte[] data) {
        Path p = file("fuzz.json", data);
        try {
            GptConfig.fromJson(p);
        } catch (NppException expected) {
            // refused
        }
        try {
            VqConfig.fromJson(p);
        } catch (NppException expected) {
            // refused
        }
    }
}
