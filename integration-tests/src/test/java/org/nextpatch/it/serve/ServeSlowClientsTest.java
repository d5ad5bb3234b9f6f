package org.nextpatch.it.serve;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.serve.NppServer;
import org.nextpatch.serve.ServeOptions;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Slow clients cannot hold {@code npp serve}. 200 slow clients on loopback (80 dribble a request head
 * one byte a second, 60 declare {@code Content-Length: 10^12} and go silent, 60 send part of a small
 * body): meanwhile a normal client gets {@code /healthz} and a {@code /v1/generate} answer within a
 * stated bound, the server holds no thread for any of them, and then the header and body timeouts
 * close every slow connection. Also: the connection limit answers 503 at once; a shutdown does not
 * wait for clients still sending; a client that goes away is not a 500. Bounded in count and time,
 * loopback only; every test stops by itself.
 */
class ServeSlowClientsTest {
    static final ServeOptions.Connections SHORT = new ServeOptions.Connections(5_000, 5_000, 5_000, 256);

    @Test
    void twoHundredSlowClientsDoNotStarveTheServer(@TempDir Path tmp) throws Exception {
        ServeFixture fx = new ServeFixture(tmp);
        try (NppServer s = fx.start(fx.engine(), ServeFixture.options().withConnections(SHORT))) {
            assertEquals(200, fx.post(s, "{\"classes\": [3], \"seed\": 1, \"format\": \"tokens\"}").statusCode());
            int open0 = gauge(fx, s, "npp_connections_open");
            int threads0 = ManagementFactory.getThreadMXBean().getThreadCount();
            long rss0 = rssKiB();
            List<Socket> dribblers = new ArrayList<>();
            List<Socket> all = new ArrayList<>();
            long attack = System.nanoTime();
            for (int i = 0; i < 200; i++) {
                Socket c = connect(s.port());
                OutputStream o = c.getOutputStream();
                if (i < 80) {
                    o.write("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ".getBytes(StandardCharsets.US_ASCII));
                    dribblers.add(c);
                } else if (i < 140) {
                    o.write("POST /v1/generate HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                } else {
                    o.write("POST /v1/generate HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"classes\": [".getBytes(StandardCharsets.US_ASCII));
                }
                o.flush();
                all.add(c);
            }
            Thread dribble = new Thread(() -> {
                try {
                    while (!Thread.currentThread().isInterrupted()) {
                        for (Socket c : dribblers) {
                            try {
                                c.getOutputStream().write('a');
                            } catch (IOException closed) {
                                // closed by the server: the header timeout
                            }
                        }
                        Thread.sleep(1000);
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, "dribbler");
            dribble.setDaemon(true);
            dribble.start();
            try {
                long t0 = System.nanoTime();
                HttpResponse<String> h = fx.get(s, "/healthz");
                double healthMs = (System.nanoTime() - t0) / 1e6;
                t0 = System.nanoTime();
                HttpResponse<String> g = fx.post(s, "{\"classes\": [3], \"seed\": 2, \"format\": \"tokens\"}");
                double generateMs = (System.nanoTime() - t0) / 1e6;
                int held = gauge(fx, s, "npp_connections_open") - open0;
                int threads1 = ManagementFactory.getThreadMXBean().getThreadCount();
                long rss1 = rssKiB();
                boolean stillHeld = System.nanoTime() - attack < TimeUnit.MILLISECONDS.toNanos(SHORT.headerTimeoutMs());
                assertEquals(200, h.statusCode());
                assertEquals(200, g.statusCode(), g.body());
                assertTrue(healthMs < 5_000, "/healthz answered within 5 s under 200 slow clients: " + healthMs + " ms");
                assertTrue(generateMs < 30_000, "/v1/generate answered within 30 s under 200 slow clients: " + generateMs + " ms");
                if (stillHeld) {   // a very slow machine may have passed the timeouts already: then nothing to compare
                    assertTrue(held >= 140, "the 140 slow requests still open were held, not dropped: " + held);
                }
                assertTrue(threads1 <= threads0 + 8, "no thread per slow client: " + threads0 + " -> " + threads1);

                // every slow connection is closed by the server within its timeouts (+ slack)
                long end = System.nanoTime() + 30_000_000_000L;
                for (Socket c : all) {
                    assertTrue(closedByServer(c, end), "a slow connection is still open 30 s after the attack began");
                }
                double closedS = (System.nanoTime() - attack) / 1e9;
                long until = System.nanoTime() + 10_000_000_000L;
                int open2;
                while ((open2 = gauge(fx, s, "npp_connections_open")) > open0 && System.nanoTime() < until) {
                    Thread.sleep(20);
                }
                int threads2 = ManagementFactory.getThreadMXBean().getThreadCount();
                long rss2 = rssKiB();
                String metrics = fx.get(s, "/metrics").body();
                System.out.printf(Locale.ROOT, "200 slow clients (timeouts %s): held %d connections; /healthz %.1f ms, /v1/generate %.1f ms; "
                                + "all closed after %.1f s; threads %d -> %d -> %d; RSS %d -> %d -> %d KiB; open connections %d -> %d%n",
                        SHORT, held, healthMs, generateMs, closedS, threads0, threads1, threads2, rss0, rss1, rss2, open0, open2);
                assertTrue(open2 <= open0, "open connections back to " + open0 + ", got " + open2);
                assertTrue(threads2 <= threads0 + 8, "threads back to baseline: " + threads0 + " -> " + threads2);
                assertTrue(metrics.contains("npp_connections_timed_out_total{phase=\"header\"} 80"), metrics);
                assertTrue(metrics.contains("npp_connections_timed_out_total{phase=\"body\"} 60"), metrics);
                assertTrue(metrics.contains("npp_requests_total{path=\"/v1/generate\",status=\"413\"} 60"), metrics);
            } finally {
                dribble.interrupt();
                for (Socket c : all) {
                    c.close();
                }
            }
        }
    }

    /** At the limit a new connection is answered 503 with Retry-After at once; once one closes, the next is served. */
    @Test
    void connectionLimitAnswers503AtOnce(@TempDir Path tmp) throws Exception {
        ServeFixture fx = new ServeFixture(tmp);
        ServeOptions o = ServeFixture.options().withConnections(new ServeOptions.Connections(60_000, 60_000, 60_000, 8));
        try (NppServer s = fx.start(fx.engine(), o)) {
            List<Socket> silent = new ArrayList<>();
            try {
                for (int i = 0; i < 8; i++) {
                    Socket c = connect(s.port());
                    silent.add(c);
                }
                long end = System.nanoTime() + 30_000_000_000L;
                String answer = "";
                while (!answer.startsWith("HTTP/1.1 503") && System.nanoTime() < end) {
                    answer = rawGet(s.port(), "/healthz");   // the 8 silent ones may not all be accepted yet
                }
                assertTrue(answer.startsWith("HTTP/1.1 503"), answer);
                assertTrue(answer.contains("Retry-After: 1"), answer);
                assertTrue(answer.contains("--max-connections"), answer);
                silent.remove(0).close();
                while (!answer.startsWith("HTTP/1.1 200") && System.nanoTime() < end) {
                    answer = rawGet(s.port(), "/healthz");
                }
                assertTrue(answer.startsWith("HTTP/1.1 200"), answer);
                assertTrue(fx.get(s, "/metrics").body().contains("npp_connections_refused_total "), "counted");
            } finally {
                for (Socket c : silent) {
                    c.close();
                }
            }
        }
    }

    /** Clients still sending a request (head or body) do not hold a shutdown for its grace period. */
    @Test
    void shutdownDoesNotWaitForSlowClients(@TempDir Path tmp) throws Exception {
        ServeFixture fx = new ServeFixture(tmp);
        ServeOptions o = ServeFixture.options().withConnections(new ServeOptions.Connections(60_000, 60_000, 60_000, 256));
        NppServer s = fx.start(fx.engine(), o);
        List<Socket> slow = new ArrayList<>();
        try {
            for (int i = 0; i < 6; i++) {
                Socket c = connect(s.port());
                c.getOutputStream().write((i % 2 == 0 ? "POST /v1/generate HTTP/1.1\r\nContent-Length: 500\r\n\r\n{\"cla"
                        : "GET /healthz HTTP/1.1\r\nHo").getBytes(StandardCharsets.US_ASCII));
                slow.add(c);
            }
            awaitGauge(fx, s, "npp_connections_open", 6);
            long t0 = System.nanoTime();
            s.shutdown(30_000);
            double secs = (System.nanoTime() - t0) / 1e9;
            System.out.printf(Locale.ROOT, "shutdown with 6 slow clients: %.2f s%n", secs);
            assertTrue(secs < 5, "shutdown took " + secs + " s of its 30 s grace for clients not in a generation");
            for (Socket c : slow) {
                assertTrue(closedByServer(c, System.nanoTime() + 10_000_000_000L), "closed by the shutdown");
            }
        } finally {
            s.shutdown(0);
            for (Socket c : slow) {
                c.close();
            }
        }
    }

    /** A client that goes away before its answer, or in the middle of its request, is no 500 in /metrics. */
    @Test
    void clientDisconnectsAreNot500s(@TempDir Path tmp) throws Exception {
        ServeFixture fx = new ServeFixture(tmp);
        ServeFixture.GatedEngine engine = new ServeFixture.GatedEngine(fx.engine());
        engine.arm();
        try (NppServer s = fx.start(engine, ServeFixture.options())) {
            String body = "{\"classes\": [1, 2], \"seed\": 3, \"format\": \"both\"}";
            try (Socket c = connect(s.port())) {
                c.getOutputStream().write(("POST /v1/generate HTTP/1.1\r\nHost: x\r\nContent-Length: " + body.length() + "\r\n\r\n" + body)
                        .getBytes(StandardCharsets.US_ASCII));
                engine.entered.await();
                c.setSoLinger(true, 0);   // gone with a reset while its request is in the engine
            }
            try (Socket c = connect(s.port())) {   // gone in the middle of its body
                c.getOutputStream().write("POST /v1/generate HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"cl".getBytes(StandardCharsets.US_ASCII));
            }
            engine.release();
            long end = System.nanoTime() + 60_000_000_000L;
            String m = "";
            while (!m.contains("npp_client_disconnects_total{path=\"/v1/generate\"} 1") && System.nanoTime() < end) {
                m = fx.get(s, "/metrics").body();
                Thread.sleep(10);
            }
            assertTrue(m.contains("npp_client_disconnects_total{path=\"/v1/generate\"} 1"), m);
            assertFalse(m.contains("status=\"500\""), m);
        } finally {
            engine.release();
        }
    }

    private static String rawGet(int port, String path) throws IOException {
        try (Socket c = connect(port)) {
            c.setSoTimeout(10_000);
            c.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            return new String(c.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
        } catch (SocketTimeoutException e) {
            return "timeout";
        }
    }

    private static Socket connect(int port) throws IOException {
        Socket c = new Socket();
        c.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
        return c;
    }

    private static int gauge(ServeFixture fx, NppServer s, String name) throws Exception {
        for (String l : fx.get(s, "/metrics").body().split("\n")) {
            if (l.startsWith(name + " ")) {
                return Integer.parseInt(l.substring(name.length() + 1).strip());
            }
        }
        throw new AssertionError("no " + name + " in /metrics");
    }

    private static void awaitGauge(ServeFixture fx, NppServer s, String name, int atLeast) throws Exception {
        long end = System.nanoTime() + 30_000_000_000L;
        while (gauge(fx, s, name) < atLeast) {
            assertTrue(System.nanoTime() < end, name + " never reached " + atLeast);
            Thread.sleep(5);
        }
    }

    /** This process's resident set in KiB (Linux), or -1. */
    private static long rssKiB() {
        try {
            for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (l.startsWith("VmRSS:")) {
                    return Long.parseLong(l.replaceAll("\\D", ""));
                }
            }
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
        return -1;
    }

    /** Reads (discarding any answer such as 408 or 413) until the server closes the connection or the deadline passes. */
    static boolean closedByServer(Socket c, long deadline) throws IOException {
        InputStream in = c.getInputStream();
        byte[] buf = new byte[4096];
        while (true) {
            long left = (deadline - System.nanoTime()) / 1_000_000;
            if (left <= 0) {
                return false;
            }
            c.setSoTimeout((int) Math.min(left, Integer.MAX_VALUE));
            try {
                if (in.read(buf) < 0) {
                    return true;
                }
            } catch (SocketTimeoutException e) {
                return false;
            } catch (IOException reset) {
                return true;
            }
        }
    }
}
