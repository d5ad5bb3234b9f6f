package org.nextpatch.data;

import java.util.Arrays;
import java.util.List;

/**
 * Greyscale images with class labels, e.g. a Fashion-MNIST split: {@code n} images of
 * {@code height x width} uint8 pixels, row-major, one after another.
 *
 * @param n          number of images
 * @param height     rows per image
 * @param width      columns per image
 * @param pixels     {@code n * height * width} bytes (unsigned)
 * @param labels     class index of each image
 * @param classNames name of each class index
 */
public record LabelledImages(int n, int height, int width, byte[] pixels, int[] labels, List<String> classNames) {

    public LabelledImages {
        if ((long) n * height * width != pixels.length || labels.length != n) {
            throw new IllegalArgumentException(n + " images of " + height + "x" + width + " need "
                    + (long) n * height * width + " pixels and " + n + " labels, got " + pixels.length
                    + " and " + labels.length);
        }
        classNames = List.copyOf(classNames);
    }

    /** Pixels per image. */
    public int imageSize() {
        return height * width;
    }

    /** Images {@code [from, to)} (copies). */
    public LabelledImages range(int from, int to) {
        int s = imageSize();
        return new LabelledImages(to - from, height, width, Arrays.copyOfRange(pixels, from * s, to * s),
                Arrays.copyOfRange(labels, from, to), classNames);
    }

    /** Number of classes. */
    public int numClasses() {
        return classNames.size();
    }
}
