package org.nextpatch.serve;

import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The head of an HTTP/1.x request (request line and header fields), parsed strictly: a bad request
 * line, header name or {@code Content-Length}, a folded header line, or more than
 * {@value #MAX_FIELDS} fields is a {@link BadRequest} with the status to answer.
 *
 * @param method  request method as sent
 * @param path    the decoded path of the request target (no query)
 * @param http10  whether the client speaks HTTP/1.0
 * @param headers field values by lower-case name, in order of arrival
 */
record HttpHead(String method, String path, boolean http10, Map<String, List<String>> headers) {
    /** Header fields at most. */
    static final int MAX_FIELDS = 100;

    /** The first value of a field (lower-case name), or null. */
    String header(String name) {
        List<String> v = headers.get(name);
        return v == null ? null : v.get(0);
    }

    /** Whether the connection may carry another request after this one. */
    boolean keepAlive() {
        String c = header("connection");
        return !http10 && (c == null || !c.toLowerCase(Locale.ROOT).contains("close"));
    }

    /** Whether the client waits for {@code 100 Continue} before it sends the body. */
    boolean expectsContinue() {
        String e = header("expect");
        return !http10 && e != null && e.equalsIgnoreCase("100-continue");
    }

    /**
     * The declared body length (0 without one), checked against {@code maxBody}: a chunked body is 411,
     * a longer one 413, so neither is ever waited for.
     */
    long contentLength(int maxBody) {
        if (headers.containsKey("transfer-encoding")) {
            throw new BadRequest(411, "body", "send the body with a Content-Length (Transfer-Encoding is not accepted)");
        }
        List<String> v = headers.get("content-length");
        if (v == null) {
            return 0;
        }
        String first = v.get(0).strip();
        for (String s : v) {
            if (!s.strip().equals(first) || !first.matches("\\d{1,18}")) {
                throw new BadRequest("body", "bad Content-Length " + v);
            }
        }
        long n = Long.parseLong(first);
        if (n > maxBody) {
            throw new BadRequest(413, "body", "the body is larger than " + maxBody + " bytes (--max-body-bytes)");
        }
        return n;
    }

    /** Parses {@code bytes[0, end)}: a head and its terminating empty line (see {@link #end}). */
    static HttpHead parse(byte[] bytes, int end) {
        String text = new String(bytes, 0, end, StandardCharsets.ISO_8859_1);
        List<String> lines = new ArrayList<>(List.of(text.split("\n", -1)));
        while (!lines.isEmpty() && lines.get(0).strip().isEmpty()) {
            lines.remove(0);   // blank lines before a request line are allowed (RFC 9112, 2.2)
        }
        while (!lines.isEmpty() && strip(lines.get(lines.size() - 1)).isEmpty()) {
            lines.remove(lines.size() - 1);   // the empty line that ends the head
        }
        if (lines.isEmpty()) {
            throw new BadRequest("request", "no request line");
        }
        String[] parts = strip(lines.get(0)).split(" ", -1);
        if (parts.length != 3 || !isToken(parts[0]) || !parts[1].startsWith("/")) {
            throw new BadRequest("request", "bad request line");
        }
        if (!parts[2].equals("HTTP/1.1") && !parts[2].equals("HTTP/1.0")) {
            throw new BadRequest(505, "request", "only HTTP/1.1 and HTTP/1.0 are served");
        }
        String path;
        try {
            path = new URI(parts[1]).getPath();
        } catch (URISyntaxException e) {
            throw new BadRequest("request", "bad request target");
        }
        if (path == null) {
            throw new BadRequest("request", "bad request target");
        }
        if (lines.size() - 1 > MAX_FIELDS) {
            throw new BadRequest(431, "request", "more than " + MAX_FIELDS + " header fields");
        }
        Map<String, List<String>> headers = new LinkedHashMap<>();
        for (String raw : lines.subList(1, lines.size())) {
            String line = strip(raw);
            int colon = line.indexOf(':');
            if (colon <= 0 || !isToken(line.substring(0, colon))) {
                throw new BadRequest("request", "bad header line");
            }
            headers.computeIfAbsent(line.substring(0, colon).toLowerCase(Locale.ROOT), k -> new ArrayList<>())
                    .add(line.substring(colon + 1).strip());
        }
        return new HttpHead(parts[0], path, parts[2].equals("HTTP/1.0"), headers);
    }

    private static String strip(String line) {
        return line.endsWith("\r") ? line.substring(0, line.length() - 1) : line;
    }

    /** An RFC 9110 token (method or field name); a folded line starts with a space and is not one. */
    private static boolean isToken(String s) {
        if (s.isEmpty()) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (!(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || "!#$%&'*+-.^_`|~".indexOf(c) >= 0)) {
                return false;
            }
        }
        return true;
    }

    /**
     * Where the head in {@code bytes[0, len)} ends: the index just past its empty line, or -1 when it
     * has not all arrived. {@code from} is where the previous search stopped.
     */
    static int end(byte[] bytes, int from, int len) {
        for (int i = Math.max(0, from - 3); i < len; i++) {
            if (bytes[i] != '\n') {
                continue;
            }
            if (i + 1 < len && bytes[i + 1] == '\n') {
                return i + 2;
            }
            if (i + 2 < len && bytes[i + 1] == '\r' && bytes[i + 2] == '\n') {
                return i + 3;
            }
        }
        return -1;
    }
}
