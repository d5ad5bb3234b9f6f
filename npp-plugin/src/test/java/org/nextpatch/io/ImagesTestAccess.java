package org.nextpatch.io;

/** Test images of {@link ImagesTest} for tests in other packages. */
public final class ImagesTestAccess {
    private ImagesTestAccess() {}

    /** A noisy 64x64 image, encoded whole in a format ImageIO writes. */
    public static byte[] encoded(String format) throws Exception {
        return ImagesTest.encoded(format);
    }
}
