package org.nextpatch.data;

import org.nextpatch.util.NppException;

import java.io.IOException;
import java.nio.file.FileVisitOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Stream;

/**
 * An image dataset laid out as torchvision's {@code ImageFolder} expects: one sub-folder per class.
 * Classes are the sub-folder names sorted as Python sorts strings (by code point) and numbered from
 * 0; each class's files are found recursively (following links), visiting directories in sorted path
 * order and files in sorted name order, keeping the extensions ImageFolder accepts. The position of
 * a file in this listing is its index {@code i} in the extracted code layout.
 */
public final class ImageFolder {
    /** torchvision's IMG_EXTENSIONS. */
    public static final Set<String> EXTENSIONS = Set.of(".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp");

    /** Python's string order: by Unicode code point (Java's compareTo orders UTF-16 units). */
    public static final Comparator<String> PYTHON_ORDER = (a, b) -> {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            int ca = a.codePointAt(i);
            int cb = b.codePointAt(j);
            if (ca != cb) {
                return Integer.compare(ca, cb);
            }
            i += Character.charCount(ca);
            j += Character.charCount(cb);
        }
        return Integer.compare(a.length() - i, b.length() - j);
    };

    /** One image file and its class index. */
    public record Entry(Path file, int label) {}

    private final Path root;
    private final List<String> classes;
    private final List<Entry> entries;

    private ImageFolder(Path root, List<String> classes, List<Entry> entries) {
        this.root = root;
        this.classes = classes;
        this.entries = entries;
    }

    /** Lists a class-per-folder image directory. */
    public static ImageFolder scan(Path root) {
        if (!Files.isDirectory(root)) {
            throw new NppException("--data-path " + root + ": not a directory");
        }
        List<String> classes = new ArrayList<>();
        try (Stream<Path> s = Files.list(root)) {
            s.filter(Files::isDirectory).map(p -> p.getFileName().toString()).forEach(classes::add);
        } catch (IOException e) {
            throw new NppException("--data-path " + root + ": cannot list: " + e.getMessage(), e);
        }
        classes.sort(PYTHON_ORDER);
        if (classes.isEmpty()) {
            throw new NppException("--data-path " + root + ": no class sub-folders (expected ROOT/CLASS/IMAGE files)");
        }
        List<Entry> entries = new ArrayList<>();
        for (int c = 0; c < classes.size(); c++) {
            Path dir = root.resolve(classes.get(c));
            List<Path> dirs = new ArrayList<>();
            try (Stream<Path> s = Files.walk(dir, FileVisitOption.FOLLOW_LINKS)) {
                s.filter(Files::isDirectory).forEach(dirs::add);
            } catch (IOException | java.io.UncheckedIOException e) {
                throw new NppException("--data-path " + dir + ": cannot list: " + e.getMessage(), e);
            }
            // os.walk yields (root, dirs, files) tuples; sorted() orders them by the root path string
            dirs.sort(Comparator.comparing(Path::toString, PYTHON_ORDER));
            for (Path d : dirs) {
                List<String> names = new ArrayList<>();
                try (Stream<Path> s = Files.list(d)) {
                    s.filter(p -> !Files.isDirectory(p)).map(p -> p.getFileName().toString())
                            .filter(ImageFolder::hasImageExtension).forEach(names::add);
                } catch (IOException e) {
                    throw new NppException("--data-path " + d + ": cannot list: " + e.getMessage(), e);
                }
                names.sort(PYTHON_ORDER);
                for (String n : names) {
                    entries.add(new Entry(d.resolve(n), c));
                }
            }
        }
        if (entries.isEmpty()) {
            throw new NppException("--data-path " + root + ": no image files (extensions " + EXTENSIONS + ") in its class folders");
        }
        return new ImageFolder(root, List.copyOf(classes), List.copyOf(entries));
    }

    /** Whether a file name has one of ImageFolder's {@link #EXTENSIONS} (case-insensitive). */
    public static boolean hasImageExtension(String name) {
        int dot = name.lastIndexOf('.');
        return dot >= 0 && EXTENSIONS.contains(name.substring(dot).toLowerCase(Locale.ROOT));
    }

    /** The dataset's root folder. */
    public Path root() {
        return root;
    }

    /** Class names, index = label. */
    public List<String> classes() {
        return classes;
    }

    /** All images in listing order. */
    public List<Entry> entries() {
        return entries;
    }
}
