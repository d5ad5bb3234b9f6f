package org.nextpatch.cli;

import ai.djl.engine.Engine;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.util.cuda.CudaUtils;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;
import org.nextpatch.model.Convolutions;
import org.nextpatch.model.EngineSelfTest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

/**
 * {@code npp doctor}: what a user runs when something looks wrong, and what support asks for. Prints
 * the versions, the CPU and the instruction sets the engines can use, thread settings, GPUs for both
 * engines, then runs {@link EngineSelfTest} (float32 ops against float64 on this machine) and ends
 * with one verdict line, {@code doctor: ok} (exit 0) or {@code doctor: N problems} (exit 1).
 */
@Command(name = "doctor", mixinStandardHelpOptions = true,
        description = "Print versions, CPU, threads and GPUs, run a numerical self-test of the engine on this "
                + "machine (a few seconds) and end with 'doctor: ok' or 'doctor: N problems'.")
public final class DoctorCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        List<String> problems = new ArrayList<>();

        out.println("versions");
        String npp = NppCommand.class.getPackage().getImplementationVersion();
        row(out, "npp", npp == null ? "(development build)" : npp);
        row(out, "java", System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + ", "
                + System.getProperty("java.vendor") + ")");
        row(out, "os", System.getProperty("os.name") + " " + System.getProperty("os.version") + " " + System.getProperty("os.arch"));
        row(out, "tribuo", org.tribuo.Tribuo.VERSION);
        row(out, "djl", Engine.getDjlVersion());
        Engine torch = null;
        try {
            torch = Engine.getEngine("PyTorch");
            row(out, "libtorch", torch.getVersion());
        } catch (RuntimeException e) {
            row(out, "libtorch", "NOT LOADED: " + e.getMessage());
            problems.add("the PyTorch engine does not load");
        }
        OrtEnvironment ort = OrtEnvironment.getEnvironment();
        row(out, "onnxruntime", ort.getVersion());

        out.println("cpu");
        row(out, "model", cpuModel());
        row(out, "instruction sets", isaSummary());
        row(out, "ONEDNN_MAX_CPU_ISA", env("ONEDNN_MAX_CPU_ISA"));
        row(out, "ATEN_CPU_CAPABILITY", env("ATEN_CPU_CAPABILITY"));

        out.println("threads");
        row(out, "available processors", String.valueOf(Runtime.getRuntime().availableProcessors())
                + " (the JVM's count, after any container CPU quota)");
        if (torch != null) {
            row(out, "libtorch intra-op", String.valueOf(JniUtils.getNumThreads()));
            row(out, "libtorch inter-op", String.valueOf(JniUtils.getNumInteropThreads()));
        }
        int configured = org.nextpatch.util.Threads.configured();
        row(out, "npp threads", configured > 0 ? configured + " (NPP_THREADS / -Dnpp.threads)"
                : org.nextpatch.util.Threads.DEFAULT + " (the fixed default; NPP_THREADS sets it)");
        row(out, "OMP_NUM_THREADS", env("OMP_NUM_THREADS"));
        row(out, "MKL_NUM_THREADS", env("MKL_NUM_THREADS"));

        out.println("gpus");
        if (torch != null) {
            row(out, "djl/libtorch", torch.getGpuCount() + " visible" + (CudaUtils.hasCuda()
                    ? ", CUDA " + CudaUtils.getCudaVersionString() : ", no CUDA runtime found"));
        }
        row(out, "onnxruntime providers", ort.getAvailableProviders().stream().map(OrtProvider::getName)
                .sorted().collect(Collectors.joining(", ")));
        row(out, "onnxruntime CUDA", onnxCuda(ort));

        if (torch != null) {
            out.println("engine self-test (float32 against float64; tolerance "
                    + String.format(Locale.ROOT, "%.0e", EngineSelfTest.TOLERANCE) + " of the largest magnitude)");
            long t0 = System.nanoTime();
            List<EngineSelfTest.Check> checks = EngineSelfTest.all();
            boolean libraryFault = false;
            for (EngineSelfTest.Check c : checks) {
                out.println("  " + c);
                if (c.problem()) {
                    problems.add(c.op() + " with " + c.threads() + " threads");
                }
                libraryFault |= c.avoided() && !c.ok();
            }
            row(out, "self-test time", String.format(Locale.ROOT, "%.1f s", (System.nanoTime() - t0) / 1e9));
            if (libraryFault) {
                out.println("  note: this CPU hits libtorch's oneDNN convolution input-gradient fault; the project pads "
                        + "output channels to a multiple of " + Convolutions.CHANNEL_BLOCK
                        + " while training, which avoids it (the rows above without the note are what runs)");
            }
        }
        for (String p : problems) {
            out.println("problem: " + p);
        }
        out.println(problems.isEmpty() ? "doctor: ok" : "doctor: " + problems.size()
                + (problems.size() == 1 ? " problem" : " problems"));
        out.flush();
        return problems.isEmpty() ? 0 : 1;
    }

    private static void row(PrintWriter out, String key, String value) {
        out.printf(Locale.ROOT, "  %-22s %s%n", key + ":", value);
    }

    private static String env(String name) {
        String v = System.getenv(name);
        return v == null ? "(not set)" : v;
    }

    private static String cpuModel() {
        String name = null;
        String family = "?";
        String model = "?";
        String stepping = "?";
        for (String line : cpuinfo()) {
            String value = line.substring(line.indexOf(':') + 1).strip();
            if (line.startsWith("model name") && name == null) {
                name = value;
            } else if (line.startsWith("cpu family")) {
                family = value;
            } else if (line.startsWith("model\t")) {
                model = value;
            } else if (line.startsWith("stepping")) {
                stepping = value;
            }
            if (line.isBlank() && name != null) {
                break; // the first processor is enough
            }
        }
        if (name == null) {
            return System.getProperty("os.arch") + " (no /proc/cpuinfo)";
        }
        return name + " (family " + family + ", model " + model + ", stepping " + stepping + "), " + System.getProperty("os.arch");
    }

    /** The vector instruction sets the CPU reports that libtorch, oneDNN and ONNX Runtime dispatch on. */
    private static String isaSummary() {
        List<String> flags = new ArrayList<>();
        for (String line : cpuinfo()) {
            if (line.startsWith("flags") || line.startsWith("Features")) {
                for (String f : line.substring(line.indexOf(':') + 1).strip().split("\\s+")) {
                    flags.add(f);
                }
                break;
            }
        }
        if (flags.isEmpty()) {
            return "(unknown)";
        }
        List<String> shown = new ArrayList<>();
        for (String f : new String[]{"sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl",
                "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_bf16", "asimd", "sve"}) {
            if (flags.contains(f)) {
                shown.add(f);
            }
        }
        String widest = flags.contains("avx512f") ? "AVX-512" : flags.contains("avx2") ? "AVX2"
                : flags.contains("asimd") ? "NEON" : "SSE";
        return widest + " (" + String.join(" ", shown) + ")" + (flags.contains("hypervisor") ? ", under a hypervisor" : "");
    }

    private static List<String> cpuinfo() {
        try {
            return Files.readAllLines(Path.of("/proc/cpuinfo"));
        } catch (IOException | RuntimeException e) {
            return List.of();
        }
    }

    private static String onnxCuda(OrtEnvironment ort) {
        if (!ort.getAvailableProviders().contains(OrtProvider.CUDA)) {
            return "not in this build (the -Pcuda profile brings onnxruntime_gpu)";
        }
        try (OrtSession.SessionOptions so = new OrtSession.SessionOptions()) {
            so.addCUDA(0);
            return "available (device 0)";
        } catch (Exception | UnsatisfiedLinkError e) {
            return "unavailable: " + e.getMessage();
        }
    }
}
