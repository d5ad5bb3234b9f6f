package org.nextpatch.serve;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The request head parser of the serve front: what it accepts, and the status of what it refuses. */
class HttpHeadTest {

    private static HttpHead parse(String head) {
        byte[] b = head.getBytes(StandardCharsets.ISO_8859_1);
        int end = HttpHead.end(b, 0, b.length);
        assertTrue(end > 0, "a complete head: " + head);
        return HttpHead.parse(b, end);
    }

    private static int refused(String head, int maxBody) {
        return assertThrows(BadRequest.class, () -> parse(head).contentLength(maxBody), head).status();
    }

    @Test
    void parsesRequestLineHeadersAndLength() {
        HttpHead h = parse("\r\nPOST /v1/generate?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length:  12 \r\nX-A: 1\r\nx-a: 2\r\n\r\n{\"body\"");
        assertEquals("POST", h.method());
        assertEquals("/v1/generate", h.path());
        assertEquals(12, h.contentLength(64));
        assertEquals(java.util.List.of("1", "2"), h.headers().get("x-a"));
        assertTrue(h.keepAlive());
        assertFalse(parse("GET / HTTP/1.0\r\n\r\n").keepAlive(), "HTTP/1.0 closes");
        assertFalse(parse("GET / HTTP/1.1\nConnection: close\n\n").keepAlive(), "bare LF lines are read too");
        assertTrue(parse("POST / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n").expectsContinue());
        assertEquals("/a b", parse("GET /a%20b HTTP/1.1\r\n\r\n").path());
    }

    @Test
    void refusesWithTheRightStatus() {
        assertEquals(413, refused("POST / HTTP/1.1\r\nContent-Length: 1000000000000\r\n\r\n", 65536));
        assertEquals(411, refused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 65536));
        assertEquals(400, refused("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 65536));
        assertEquals(400, refused("POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 65536));
        assertEquals(400, refused("GET  / HTTP/1.1\r\n\r\n", 64));
        assertEquals(400, refused("GET http://x/ HTTP/1.1\r\n\r\n", 64));
        assertEquals(400, refused("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 64));
        assertEquals(400, refused("GET / HTTP/1.1\r\nBad Name: a\r\n\r\n", 64));
        assertEquals(505, refused("GET / HTTP/2.0\r\n\r\n", 64));
        assertEquals(431, refused("GET / HTTP/1.1\r\n" + "A: b\r\n".repeat(HttpHead.MAX_FIELDS + 1) + "\r\n", 64));
    }

    @Test
    void findsTheEndOnlyWhenTheHeadIsComplete() {
        byte[] b = "GET / HTTP/1.1\r\nHost: a\r\n\r\nrest".getBytes(StandardCharsets.ISO_8859_1);
        assertEquals(-1, HttpHead.end(b, 0, 20));
        assertEquals(27, HttpHead.end(b, 20, b.length), "resumes where the last search stopped");
        assertEquals(-1, HttpHead.end(b, 0, 26));
    }
}
