package org.nextpatch.hostile;

import org.nextpatch.cli.NppCommand;
import org.nextpatch.io.TorchCheckpoint;
import org.nextpatch.tensor.Npy;
import org.nextpatch.util.NppException;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Runs the hostile corpus in its own JVM (started by {@link HostileInputTest} with a small heap):
 * one line per case, {@code name TAB exit TAB answer TAB milliseconds}, where answer is the refusal (stderr) or
 * the report (stdout) with line breaks shown as " | ". A case over its time limit prints TIMEOUT and
 * ends the run (a hung loader cannot be stopped from inside the JVM).
 * <p>
 * Arguments: the case list file ({@code name TAB kind TAB path} per line) and the per-case limit in seconds.
 */
public final class HostileCorpusRunner {
    private HostileCorpusRunner() {}

    public static void main(String[] args) throws Exception {
        List<String> lines = Files.readAllLines(Path.of(args[0]));
        long limit = Long.parseLong(args[1]);
        ExecutorService pool = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(null, r, "case", 64 << 20);
            t.setDaemon(true);
            return t;
        });
        for (String line : lines) {
            String[] f = line.split("\t");
            long t0 = System.nanoTime();
            Future<String> r = pool.submit(() -> run(f[1], Path.of(f[2])));
            String answer;
            try {
                answer = r.get(limit, TimeUnit.SECONDS);
            } catch (TimeoutException e) {
                System.out.println(f[0] + "\tTIMEOUT\t");
                System.out.flush();
                System.exit(3);
                return;
            }
            System.out.println(f[0] + "\t" + answer + "\t" + (System.nanoTime() - t0) / 1_000_000);
        }
        System.out.flush();
        System.exit(0);
    }

    private static String run(String kind, Path file) {
        try {
            switch (kind) {
                case "inspect" -> {
                    StringWriter out = new StringWriter();
                    StringWriter err = new StringWriter();
                    picocli.CommandLine cl = NppCommand.commandLine();
                    cl.setOut(new PrintWriter(out, true));
                    cl.setErr(new PrintWriter(err, true));
                    int code = cl.execute("inspect-ckpt", file.toString());
                    String text = code == 0 ? out.toString() : err.toString();
                    return code + "\t" + text.strip().replace("\n", " | ").replace("\t", " ");
                }
                case "load" -> {
                    TorchCheckpoint.load(file);
                    return "0\tloaded";
                }
                case "tribuo" -> {
                    org.nextpatch.cli.ProvenanceCommand.load(file);
                    return "0\tread";
                }
                case "gpt-config" -> {
                    org.nextpatch.config.GptConfig.fromJson(file);
                    return "0\tread";
                }
                case "vq-config" -> {
                    org.nextpatch.config.VqConfig.fromJson(file);
                    return "0\tread";
                }
                case "idx-limit-10" -> {
                    return "0\tread " + org.nextpatch.data.IdxImages.read(file, null, 10).size() + " images";
                }
                case "npy" -> {
                    Npy.read(file);
                    return "0\tread";
                }
                case "image" -> {
                    org.nextpatch.io.Images.Rgb img = org.nextpatch.io.Images.readRgb(file);
                    return "0\t" + img.width() + "x" + img.height();
                }
                case "idx" -> {
                    org.nextpatch.io.Idx.read(file);
                    return "0\tread";
                }
                case "lock" -> {
                    org.nextpatch.util.DirLock.acquire(file.getParent(), "--out " + file.getParent()).close();
                    return "0\tlocked";
                }
                default -> throw new IllegalArgumentException(kind);
            }
        } catch (NppException e) {
            return "1\t" + e.getMessage().replace("\n", " | ").replace("\t", " ");
        } catch (OutOfMemoryError e) {
            return "3\t" + e.getMessage();
        } catch (Throwable e) {
            return "99\t" + e;
        }
    }
}
