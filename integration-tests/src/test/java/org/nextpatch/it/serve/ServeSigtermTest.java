package org.nextpatch.it.serve;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code npp serve} as its own process: it prints its address, and SIGTERM sent while requests are
 * taken makes it answer every one of them in full and exit 0. (That requests are still in the
 * engine when the signal lands is likely but not forced here; {@code ServeTest} forces it in
 * process with a gate.)
 */
class ServeSigtermTest {

    @Test
    void sigtermFinishesRequestsAndExitsZero(@TempDir Path tmp) throws Exception {
        ServeFixture fx = new ServeFixture(tmp);
        long[] classes = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5};
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        Path err = tmp.resolve("serve.err");
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx512m",
                "-cp", cp, "-Dai.djl.offline=true", "org.nextpatch.cli.NppCommand", "serve", "--onnx-dir", fx.onnx.toString(),
                "--port", "0", "--max-batch", "1", "--batch-window-ms", "0", "--onnx-threads", "1")
                .redirectError(err.toFile()).start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            String line = out.readLine();
            assertTrue(line != null && line.startsWith("serving "), "first line: " + line + "\n" + Files.readString(err));
            Matcher m = Pattern.compile("on (http://127\\.0\\.0\\.1:\\d+)/").matcher(line);
            assertTrue(m.find(), line);
            String url = m.group(1);

            int n = 6;
            List<CompletableFuture<HttpResponse<String>>> rs = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                String body = "{\"classes\": [" + ServeFixture.join(classes) + "], \"seed\": " + i + ", \"format\": \"both\"}";
                rs.add(fx.client.sendAsync(HttpRequest.newBuilder(URI.create(url + "/v1/generate")).timeout(Duration.ofMinutes(2))
                        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString()));
            }
            // every request taken by the server (in flight or answered) before the signal
            long end = System.nanoTime() + 60_000_000_000L;
            while (taken(fx, url) < n) {
                assertTrue(System.nanoTime() < end, "requests never reached the server");
                Thread.sleep(2);
            }
            p.toHandle().destroy();   // SIGTERM (Process.destroy would also close our end of its output)
            for (int i = 0; i < n; i++) {
                HttpResponse<String> r = rs.get(i).get(2, TimeUnit.MINUTES);
                assertEquals(200, r.statusCode(), r.body());
                JsonNode j = ServeFixture.JSON.readTree(r.body());
                assertEquals(classes.length, j.get("images").size(), "all images, none cut off");
                long[][] want = fx.cliTokens(classes, i);
                long[][] got = ServeFixture.tokensOf(j);
                for (int k = 0; k < classes.length; k++) {
                    assertArrayEquals(want[k], got[k], "seed " + i + " row " + k);
                }
            }
            String rest = String.join("\n", out.lines().toList());   // to the end of the output: the process has ended
            assertTrue(p.waitFor(2, TimeUnit.MINUTES), "the server exits after SIGTERM");
            assertEquals(0, p.exitValue(), Files.readString(err));
            assertEquals("stopped", rest.strip());
            String log = Files.readString(err);
            assertTrue(log.contains("stopping: no new requests"), log);
            // how much was still in flight when the signal landed (informational: not forced here)
            log.lines().filter(l -> l.contains("stopping:")).forEach(System.out::println);
        } finally {
            p.destroyForcibly();
        }
    }

    /** Generation requests in flight plus those answered, from /metrics. */
    private static int taken(ServeFixture fx, String url) throws Exception {
        String text = fx.client.send(HttpRequest.newBuilder(URI.create(url + "/metrics")).GET().build(),
                HttpResponse.BodyHandlers.ofString()).body();
        int n = 0;
        for (String l : text.split("\n")) {
            if (l.startsWith("npp_requests_in_flight ") || l.startsWith("npp_requests_total{path=\"/v1/generate\",status=\"200\"} ")) {
                n += Integer.parseInt(l.substring(l.lastIndexOf(' ') + 1));
            }
        }
        return n;
    }
}
