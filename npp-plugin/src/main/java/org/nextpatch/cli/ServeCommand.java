package org.nextpatch.cli;

import org.nextpatch.onnx.OnnxSampler;
import org.nextpatch.serve.NppServer;
import org.nextpatch.serve.OnnxEngine;
import org.nextpatch.serve.ServeOptions;
import org.nextpatch.serve.ServedModel;
import org.nextpatch.util.NppException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import sun.misc.Signal;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code npp serve}: the image-generation service over an ONNX export ({@link NppServer}). A thin
 * adapter: flags to {@link ServeOptions}, then start, print the address, and on SIGTERM or Ctrl-C
 * stop taking requests, answer those in flight and exit 0.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serve an ONNX export over HTTP: POST /v1/generate, GET /v1/model, /healthz, /metrics, and a playground at /.")
public final class ServeCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--onnx-dir", required = true, paramLabel = "DIR",
            description = "Graphs written by 'npp export-onnx' or 'npp demo' (gpt-generate.onnx; vq-decoder.onnx for images).")
    Path onnxDir;

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "Address to bind (default ${DEFAULT-VALUE}: this machine only).")
    String host;

    @Option(names = "--port", defaultValue = "8080", description = "TCP port (default ${DEFAULT-VALUE}; 0 = any free port).")
    int port;

    @Option(names = "--max-batch", defaultValue = "32", paramLabel = "N",
            description = "Most images per ONNX Runtime run; concurrent requests are coalesced up to this (default ${DEFAULT-VALUE}).")
    int maxBatch;

    @Option(names = "--batch-window-ms", defaultValue = "5", paramLabel = "MS",
            description = "How long a batch waits for more requests after its first (default ${DEFAULT-VALUE}).")
    int batchWindowMs;

    @Option(names = "--queue", defaultValue = "64", paramLabel = "N",
            description = "Requests allowed to wait; more are answered 503 with Retry-After (default ${DEFAULT-VALUE}).")
    int queue;

    @Option(names = "--timeout-ms", defaultValue = "60000", paramLabel = "MS",
            description = "Per-request timeout; later answers are 504 (default ${DEFAULT-VALUE}).")
    int timeoutMs;

    @Option(names = "--max-classes", defaultValue = "64", paramLabel = "N", description = "Images per request at most (default ${DEFAULT-VALUE}).")
    int maxClasses;

    @Option(names = "--max-body-bytes", defaultValue = "65536", paramLabel = "B", description = "Request body size at most (default ${DEFAULT-VALUE}).")
    int maxBodyBytes;

    @Option(names = "--header-timeout-ms", defaultValue = "10000", paramLabel = "MS",
            description = "A request's head must arrive within this, else 408 and the connection closes (default ${DEFAULT-VALUE}).")
    int headerTimeoutMs;

    @Option(names = "--body-timeout-ms", defaultValue = "10000", paramLabel = "MS",
            description = "A request's body must arrive, and a response be read, within this (default ${DEFAULT-VALUE}).")
    int bodyTimeoutMs;

    @Option(names = "--idle-timeout-ms", defaultValue = "15000", paramLabel = "MS",
            description = "An idle kept-alive connection is closed after this (default ${DEFAULT-VALUE}).")
    int idleTimeoutMs;

    @Option(names = "--max-connections", defaultValue = "256", paramLabel = "N",
            description = "Connections open at most; one more is answered 503 at once (default ${DEFAULT-VALUE}).")
    int maxConnections;

    @Option(names = "--class-names", split = ",", paramLabel = "NAMES",
            description = "Class names in class order, comma-separated (default: the manifest's class_names, else ids only).")
    List<String> classNames;

    @Option(names = "--onnx-threads", defaultValue = "0", paramLabel = "N",
            description = "ONNX Runtime intra-op threads (default ${DEFAULT-VALUE} = all cores).")
    int onnxThreads;

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "cpu|cuda|cuda:N|auto",
            description = "ONNX Runtime execution provider (default ${DEFAULT-VALUE}).")
    String device;

    @Override
    public Integer call() throws InterruptedException {
        ServeOptions options;
        try {
            options = new ServeOptions(host, port, maxBatch, batchWindowMs, queue, timeoutMs, maxClasses, maxBodyBytes, classNames,
                    new ServeOptions.Connections(headerTimeoutMs, bodyTimeoutMs, idleTimeoutMs, maxConnections));
        } catch (NppException e) {
            throw new NppCommand.UsageException(e.getMessage());
        }
        ServedModel model = ServedModel.open(onnxDir, options.classNames());
        NppServer server = new NppServer(model, new OnnxEngine(model, new OnnxSampler.Options(
                OnnxSampleEngine.onnxDevice(device), onnxThreads, 0, null)), options).start();
        Runnable stop = () -> new Thread(() -> server.shutdown(timeoutMs), "npp-serve-shutdown").start();
        // SIGTERM / Ctrl-C: drain and return normally (exit 0) instead of the JVM's default exit 143/130
        for (String sig : new String[]{"TERM", "INT"}) {
            try {
                Signal.handle(new Signal(sig), s -> stop.run());
            } catch (IllegalArgumentException e) {
                // no such signal on this platform: the JVM's default handling stays
            }
        }
        PrintWriter out = spec.commandLine().getOut();
        out.println("serving " + onnxDir + " on " + server.url() + "/ (POST /v1/generate, GET /v1/model, /healthz, /metrics; "
                + "SIGTERM or Ctrl-C stops)");
        out.flush();
        server.awaitTermination();
        out.println("stopped");
        out.flush();
        return 0;
    }
}
