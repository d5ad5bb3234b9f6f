package org.nextpatch.serve;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.util.NppException;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;

/**
 * The HTTP/1.1 front of {@code npp serve}. One selector thread accepts connections and reads every
 * request head and body without blocking, each under a deadline: the head within the header timeout
 * (from the connection's start, or from the first byte of a later request on a kept-alive
 * connection), the body within the body timeout, the next request's first byte within the idle
 * timeout, and a response taken by the client within the body timeout. A connection past its
 * deadline is answered 408 (or just closed) and closed. At most {@code maxConnections} are open; one
 * more is answered 503 at once. Only complete requests reach a handler thread, so a slow or silent
 * client holds a buffer, never a thread; quick and slow requests run on separate executors.
 * <p>
 * Why not the JDK's {@code com.sun.net.httpserver}: it reads heads and bodies on the handler threads
 * (a slow client holds one), its timeouts ({@code sun.net.httpserver.maxReqTime} and friends) are
 * JVM-wide system properties in whole seconds, read once when the class loads, and its connection
 * limit ({@code jdk.httpserver.maxConnections}) closes without an answer.
 */
final class HttpFront implements AutoCloseable {
    private static final Logger LOG = LogManager.getLogger(HttpFront.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Request head (request line and fields) bytes at most; more is 431. */
    static final int MAX_HEAD_BYTES = 16 * 1024;
    /** How long a refused connection is drained before it is closed (so the client reads the answer, not a reset). */
    private static final long LINGER_NANOS = TimeUnit.SECONDS.toNanos(1);
    private static final int MAX_LINGERING = 64;
    private static final long TICK_MS = 50;

    /** A complete request. */
    record Request(String method, String path, byte[] body) {}

    /** An answer: status, content type, body and an optional {@code Retry-After} (seconds). */
    record Response(int status, String type, byte[] body, String retryAfter) {
        /** A JSON error body {@code {"error": message, "field": field}}. */
        static Response error(int status, String field, String message, String retryAfter) {
            ObjectNode e = JSON.createObjectNode();
            e.put("error", message);
            if (field != null) {
                e.put("field", field);
            }
            try {
                return new Response(status, "application/json", JSON.writeValueAsBytes(e), retryAfter);
            } catch (IOException x) {
                throw new UncheckedIOException(x);
            }
        }
    }

    /** What the front calls; {@link #handle} runs on {@link #executor}'s thread and may block. */
    interface Handler {
        Executor executor(Request request);

        Response handle(Request request);
    }

    /** Deadlines and the connection limit, in the units of {@link ServeOptions.Connections}. */
    private final ServeOptions.Connections limits;
    private final int maxBody;
    private final Handler handler;
    private final Metrics metrics;
    private final UnaryOperator<String> label;
    private final ServerSocketChannel server;
    private final Selector selector;
    private final Thread loop;
    private final Set<Conn> conns = new HashSet<>();          // selector thread only
    private final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    private final AtomicInteger open = new AtomicInteger();
    private final AtomicInteger busy = new AtomicInteger();
    private volatile boolean draining;
    private volatile boolean closed;
    private int lingering;

    /**
     * Binds the socket (nothing is accepted before {@link #start}).
     *
     * @param label maps a request path to its {@code /metrics} label
     */
    HttpFront(InetSocketAddress address, ServeOptions.Connections limits, int maxBody, Handler handler, Metrics metrics,
              UnaryOperator<String> label) throws IOException {
        this.limits = limits;
        this.maxBody = maxBody;
        this.handler = handler;
        this.metrics = metrics;
        this.label = label;
        this.selector = Selector.open();
        ServerSocketChannel s = null;
        try {
            s = ServerSocketChannel.open();
            s.bind(address, 128);
            s.configureBlocking(false);
            s.register(selector, SelectionKey.OP_ACCEPT);
        } catch (IOException e) {
            if (s != null) {
                s.close();
            }
            selector.close();
            throw e;
        }
        this.server = s;
        this.loop = new Thread(this::run, "npp-serve-io");
        this.loop.setDaemon(true);
    }

    void start() {
        loop.start();
    }

    /** The bound port. */
    int port() {
        return server.socket().getLocalPort();
    }

    /** Connections open now (lingering refusals not counted). */
    int open() {
        return open.get();
    }

    /** Requests taken and not yet answered in full (with a handler or being sent). */
    int busy() {
        return busy.get();
    }

    /** From now on every answer closes its connection (requests already taken are still answered). */
    void drain() {
        draining = true;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        selector.wakeup();
        try {
            loop.join(TimeUnit.SECONDS.toMillis(10));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void post(Runnable r) {
        tasks.add(r);
        selector.wakeup();
    }

    // ------------------------------------------------------------------ the selector thread

    private void run() {
        long lastSweep = System.nanoTime();
        try {
            while (!closed) {
                selector.select(TICK_MS);
                for (Runnable r; (r = tasks.poll()) != null; ) {
                    try {
                        r.run();
                    } catch (RuntimeException e) {
                        LOG.warn("answering a request failed: {}", e.toString(), e);
                    }
                }
                for (SelectionKey k : selector.selectedKeys()) {
                    if (!k.isValid()) {
                        continue;
                    }
                    if (k.isAcceptable()) {
                        accept();
                    } else {
                        Conn c = (Conn) k.attachment();
                        try {
                            if (k.isReadable()) {
                                c.read();
                            }
                            if (k.isValid() && k.isWritable()) {
                                c.write();
                            }
                        } catch (IOException e) {
                            c.lost();
                        } catch (RuntimeException e) {
                            LOG.warn("closing a connection after an error: {}", e.toString(), e);
                            c.close();
                        }
                    }
                }
                selector.selectedKeys().clear();
                long now = System.nanoTime();
                if (now - lastSweep > TimeUnit.MILLISECONDS.toNanos(TICK_MS)) {
                    lastSweep = now;
                    for (Conn c : new ArrayList<>(conns)) {
                        try {
                            c.checkDeadline(now);
                        } catch (RuntimeException e) {
                            LOG.warn("closing a connection after an error: {}", e.toString(), e);
                            c.close();
                        }
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            LOG.error("the HTTP front stopped: {}", e.toString(), e);
        } finally {
            for (Conn c : new ArrayList<>(conns)) {
                c.close();
            }
            try {
                server.close();
                selector.close();
            } catch (IOException e) {
                LOG.debug("closing the listening socket: {}", e.getMessage());
            }
        }
    }

    private void accept() {
        while (true) {
            SocketChannel ch = null;
            try {
                ch = server.accept();
                if (ch == null) {
                    return;
                }
                ch.configureBlocking(false);
                Conn c = new Conn(ch);
                c.register();
                if (open.get() >= limits.maxConnections()) {
                    metrics.connectionRefused();
                    c.refuse(Response.error(503, null, "too many connections (" + limits.maxConnections()
                            + ", --max-connections); retry shortly", "1"), null);
                } else {
                    open.incrementAndGet();
                    c.counted = true;
                    c.deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(limits.headerTimeoutMs());
                }
            } catch (IOException e) {
                LOG.warn("cannot accept a connection: {}", e.getMessage());   // e.g. out of file descriptors: try again later
                if (ch != null) {
                    try {
                        ch.close();
                    } catch (IOException ignored) {
                        // already failing
                    }
                }
                return;
            }
        }
    }

    private enum State { HEAD, BODY, BUSY, SEND, LINGER, CLOSED }

    /** One client connection; touched by the selector thread only. */
    private final class Conn {
        final SocketChannel ch;
        SelectionKey key;
        State state = State.HEAD;
        boolean counted;
        boolean idle;             // waiting for the first byte of a request after an earlier one
        long deadline;
        byte[] in = new byte[2048];
        int len;                  // bytes in {@code in}
        int scanned;              // where the search for the end of the head stopped
        int headEnd;
        HttpHead head;
        long need;                // headEnd + body length
        ByteBuffer out;
        Request request;
        Response response;
        boolean keepAlive;

        Conn(SocketChannel ch) {
            this.ch = ch;
        }

        void register() throws IOException {
            key = ch.register(selector, SelectionKey.OP_READ, this);
            conns.add(this);
        }

        void read() throws IOException {
            if (state == State.LINGER) {
                ByteBuffer sink = ByteBuffer.allocate(4096);
                if (ch.read(sink) < 0) {
                    close();
                }
                return;
            }
            int room = in.length - len;
            if (room == 0) {
                grow();
                room = in.length - len;
            }
            int n = ch.read(ByteBuffer.wrap(in, len, room));
            if (n < 0) {
                close();   // the client went away before sending a whole request: nothing to answer
                return;
            }
            if (n > 0 && idle) {
                idle = false;
                deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(limits.headerTimeoutMs());
            }
            len += n;
            parse();
        }

        /** Room for the head, or for head and body once the length is known; never more. */
        private void grow() {
            long cap = state == State.HEAD ? MAX_HEAD_BYTES : need;
            if (in.length >= cap) {
                return;
            }
            in = Arrays.copyOf(in, (int) Math.min(cap, Math.max(2L * in.length, 2048)));
        }

        private void parse() {
            try {
                if (state == State.HEAD) {
                    int end = HttpHead.end(in, scanned, len);
                    scanned = len;
                    if (end < 0) {
                        if (len >= MAX_HEAD_BYTES) {
                            throw new BadRequest(431, "request", "the request head is longer than " + MAX_HEAD_BYTES + " bytes");
                        }
                        return;
                    }
                    head = HttpHead.parse(in, end);
                    headEnd = end;
                    need = end + head.contentLength(maxBody);
                    state = State.BODY;
                    deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(limits.bodyTimeoutMs());
                    if (head.expectsContinue() && need > len) {
                        ch.write(ByteBuffer.wrap("HTTP/1.1 100 Continue\r\n\r\n".getBytes(StandardCharsets.US_ASCII)));
                    }
                    if (in.length < need) {
                        in = Arrays.copyOf(in, (int) need);
                    }
                }
                if (state == State.BODY && len >= need) {
                    dispatch();
                }
            } catch (BadRequest e) {
                refuse(Response.error(e.status(), e.field(), e.getMessage(), null), head == null ? null : head.path());
            } catch (IOException e) {
                lost();
            }
        }

        private void dispatch() {
            byte[] body = Arrays.copyOfRange(in, headEnd, (int) need);
            // bytes after this request (a pipelined next one) stay for later
            int rest = len - (int) need;
            System.arraycopy(in, (int) need, in, 0, rest);
            len = rest;
            scanned = 0;
            Request r = new Request(head.method(), head.path(), body);
            request = r;
            keepAlive = head.keepAlive();
            state = State.BUSY;
            busy.incrementAndGet();
            key.interestOps(0);
            try {
                handler.executor(r).execute(() -> {
                    Response resp;
                    try {
                        resp = handler.handle(r);
                    } catch (RuntimeException e) {
                        LOG.error("{} {}: {}", r.method(), r.path(), e.toString(), e);
                        resp = Response.error(500, null, "internal error (see the server log)", null);
                    }
                    Response answer = resp;
                    post(() -> send(answer));
                });
            } catch (RejectedExecutionException e) {
                close();
            }
        }

        /**
         * Answers and closes, reading and dropping what the client still sends for a short while so
         * that it reads the answer rather than a reset. Not counted as an open connection meanwhile.
         */
        void refuse(Response r, String path) {
            if (state == State.LINGER || state == State.CLOSED) {
                return;
            }
            if (lingering >= MAX_LINGERING) {
                close();   // a flood of refusals: no answer
                return;
            }
            if (counted) {
                counted = false;
                open.decrementAndGet();
            }
            request = new Request("", path == null ? "" : path, new byte[0]);
            response = r;
            out = ByteBuffer.wrap(bytes(r, false));
            state = State.LINGER;
            lingering++;
            deadline = System.nanoTime() + LINGER_NANOS;
            key.interestOps(SelectionKey.OP_WRITE);
            try {
                write();
            } catch (IOException e) {
                close();
            }
        }

        /** Sends a handler's answer (called on the selector thread). */
        private void send(Response r) {
            if (state != State.BUSY) {
                metrics.clientDisconnected(label.apply(request.path()));   // closed while the handler ran (shutdown)
                return;
            }
            response = r;
            out = ByteBuffer.wrap(bytes(r, keepAlive && !draining));
            state = State.SEND;
            deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(limits.bodyTimeoutMs());
            key.interestOps(SelectionKey.OP_WRITE);
            try {
                write();
            } catch (IOException e) {
                lost();
            }
        }

        void write() throws IOException {
            if (state != State.SEND && state != State.LINGER) {
                return;
            }
            if (out.hasRemaining()) {
                ch.write(out);
                if (out.hasRemaining()) {
                    return;
                }
                metrics.request(label.apply(request.path()), response.status());
            }
            if (state == State.LINGER) {
                if (key.interestOps() != SelectionKey.OP_READ) {
                    ch.shutdownOutput();
                    key.interestOps(SelectionKey.OP_READ);
                }
                return;
            }
            busy.decrementAndGet();
            state = State.HEAD;
            if (!keepAlive || draining) {
                close();
                return;
            }
            idle = len == 0;
            head = null;
            if (idle && in.length > 2048) {
                in = new byte[2048];   // an idle connection keeps a small buffer, whatever its last body was
            }
            deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(idle ? limits.idleTimeoutMs() : limits.headerTimeoutMs());
            key.interestOps(SelectionKey.OP_READ);
            if (len > 0) {
                parse();
            }
        }

        void checkDeadline(long now) {
            if (state == State.BUSY || state == State.CLOSED || now - deadline < 0) {
                return;
            }
            switch (state) {
                case HEAD -> {
                    metrics.connectionTimedOut(idle ? "idle" : "header");
                    if (idle) {
                        close();
                    } else {
                        refuse(Response.error(408, "request", "the request head did not arrive within "
                                + limits.headerTimeoutMs() + " ms (--header-timeout-ms)", null), null);
                    }
                }
                case BODY -> {
                    metrics.connectionTimedOut("body");
                    refuse(Response.error(408, "body", "the request body did not arrive within "
                            + limits.bodyTimeoutMs() + " ms (--body-timeout-ms)", null), head.path());
                }
                case SEND -> {
                    metrics.connectionTimedOut("send");
                    lost();
                }
                default -> close();
            }
        }

        /** The client went away (or stopped reading) while a request of its own was being answered. */
        void lost() {
            if (state == State.SEND || state == State.BUSY) {
                metrics.clientDisconnected(label.apply(request.path()));
            }
            close();
        }

        void close() {
            if (state == State.CLOSED) {
                return;
            }
            if (state == State.BUSY || state == State.SEND) {
                busy.decrementAndGet();
            }
            if (state == State.LINGER) {
                lingering--;
            }
            state = State.CLOSED;
            if (counted) {
                counted = false;
                open.decrementAndGet();
            }
            conns.remove(this);
            if (key != null) {
                key.cancel();
            }
            try {
                ch.close();
            } catch (IOException e) {
                LOG.debug("closing a connection: {}", e.getMessage());
            }
        }
    }

    private static final DateTimeFormatter DATE = DateTimeFormatter.RFC_1123_DATE_TIME;

    /** The response on the wire. */
    static byte[] bytes(Response r, boolean keepAlive) {
        StringBuilder h = new StringBuilder(256);
        h.append("HTTP/1.1 ").append(r.status()).append(' ').append(reason(r.status())).append("\r\n");
        h.append("Date: ").append(DATE.format(ZonedDateTime.now(ZoneOffset.UTC))).append("\r\n");
        h.append("Content-Type: ").append(r.type()).append("\r\n");
        h.append("Content-Length: ").append(r.body().length).append("\r\n");
        h.append("Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n");
        if (r.retryAfter() != null) {
            h.append("Retry-After: ").append(r.retryAfter()).append("\r\n");
        }
        if (!keepAlive) {
            h.append("Connection: close\r\n");
        }
        h.append("\r\n");
        ByteArrayOutputStream b = new ByteArrayOutputStream(h.length() + r.body().length);
        b.writeBytes(h.toString().getBytes(StandardCharsets.US_ASCII));
        b.writeBytes(r.body());
        return b.toByteArray();
    }

    private static String reason(int status) {
        return switch (status) {
            case 200 -> "OK";
            case 400 -> "Bad Request";
            case 404 -> "Not Found";
            case 405 -> "Method Not Allowed";
            case 408 -> "Request Timeout";
            case 411 -> "Length Required";
            case 413 -> "Content Too Large";
            case 431 -> "Request Header Fields Too Large";
            case 500 -> "Internal Server Error";
            case 503 -> "Service Unavailable";
            case 504 -> "Gateway Timeout";
            case 505 -> "HTTP Version Not Supported";
            default -> "Status";
        };
    }

    /** Binds or explains in one line. */
    static HttpFront bind(ServeOptions o, Handler handler, Metrics metrics, UnaryOperator<String> label) {
        try {
            return new HttpFront(new InetSocketAddress(o.host(), o.port()), o.connections(), o.maxBodyBytes(), handler, metrics, label);
        } catch (IOException e) {
            throw new NppException("--host " + o.host() + " --port " + o.port() + ": cannot listen: " + e.getMessage(), e);
        }
    }
}
