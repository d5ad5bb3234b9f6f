package org.nextpatch.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.nextpatch.util.AtomicFiles;
import org.nextpatch.util.NppException;
import org.nextpatch.util.Sha256;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The settings a code directory was extracted with, kept beside the codes in
 * {@code {code_path}/imagenet{S}_extraction.json}: the tokenizer (path and SHA-256), the image size,
 * ten crops or centre + flip, the crop range. A later run into the same directory must use the same
 * settings, so a directory never mixes codes of two tokenizers or two crop schemes; training reads the
 * record into its provenance. The record also says whether the extraction finished ({@code finished},
 * written false when a run starts and true with the counts {@code images}, {@code encoded},
 * {@code skipped} when it ends), so training refuses the half of a directory an interrupted run left.
 *
 * @param tokenizer       the tokenizer checkpoint as given
 * @param tokenizerSha256 SHA-256 of the tokenizer file, lower-case hex
 * @param imageSize       crop side S
 * @param tenCrop         ten crops (otherwise centre crop and its mirror image)
 * @param cropRange       enlargement before the ten crops (1.0 when not ten-crop)
 * @param codebookSize    the tokenizer's codebook size (the codes' vocabulary), 0 when not recorded
 */
public record ExtractionRecord(String tokenizer, String tokenizerSha256, int imageSize, boolean tenCrop, double cropRange,
                               int codebookSize) {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Record key: whether the extraction ran to its end. */
    private static final String FINISHED = "finished";
    /** Skipped files named in a record (the count is always there). */
    private static final int MAX_NAMES = 100;

    /** The record of a run with these settings and this tokenizer file (hashed here). */
    public static ExtractionRecord of(CodeExtractor.Settings s, Path tokenizer) {
        return new ExtractionRecord(tokenizer.toString(), sha256(tokenizer), s.imageSize(), s.tenCrop(),
                s.tenCrop() ? s.cropRange() : 1.0, 0);
    }

    /** This record with the tokenizer's codebook size (known once the tokenizer is loaded). */
    public ExtractionRecord withCodebookSize(int size) {
        return new ExtractionRecord(tokenizer, tokenizerSha256, imageSize, tenCrop, cropRange, size);
    }

    /** {@code {code_path}/imagenet{S}_extraction.json}. */
    public static Path file(Path codePath, int imageSize) {
        return codePath.resolve("imagenet" + imageSize + "_extraction.json");
    }

    /** The record of a code directory, or null if it has none (made before records were kept). */
    public static ExtractionRecord read(Path codePath, int imageSize) {
        JsonNode n = readJson(codePath, imageSize);
        return n == null ? null : new ExtractionRecord(n.path("tokenizer").asText(), n.path("tokenizer_sha256").asText(),
                n.path("image_size").asInt(), n.path("ten_crop").asBoolean(), n.path("crop_range").asDouble(),
                n.path("codebook_size").asInt(0));
    }

    private static JsonNode readJson(Path codePath, int imageSize) {
        Path f = file(codePath, imageSize);
        if (!Files.exists(f)) {
            return null;
        }
        org.nextpatch.util.RegularFiles.requireRegular(f, "extraction record");
        try {
            if (Files.size(f) > 1 << 20) {
                throw new NppException(f + ": " + Files.size(f) + " bytes, more than an extraction record can need (1 MB)");
            }
            return JSON.readTree(f.toFile());
        } catch (IOException e) {
            throw new NppException(f + ": unreadable extraction record: " + e.getMessage(), e);
        }
    }

    /**
     * Before any work: a directory with a record must have been extracted with these settings (the
     * tokenizer compared by content, not path); then the record is (re)written as unfinished, so a run
     * killed from here on leaves a directory that {@link #requireFinished} refuses.
     *
     * @param images the number of images this run extracts (negative: not known here)
     * @throws NppException naming the directory and the settings that differ
     */
    public void claim(Path codePath, int images) {
        check(codePath);
        ObjectNode n = settingsJson();
        n.put(FINISHED, false);
        if (images >= 0) {
            n.put("images", images);
        }
        AtomicFiles.writeString(file(codePath, imageSize), n.toPrettyString() + "\n");
    }

    /**
     * After a run: the record says the extraction finished, with its counts.
     *
     * @param images  images in the data set (as limited)
     * @param encoded images whose codes are in the directory (this run's and earlier ones')
     * @param skipped files refused or unreadable (truncated, over the pixel limit, not regular files), by name
     */
    public void finish(Path codePath, int images, int encoded, List<String> skipped) {
        ObjectNode n = settingsJson();
        n.put(FINISHED, true).put("images", images).put("encoded", encoded).put("skipped", skipped.size());
        n.set("skipped_files", JSON.valueToTree(skipped.subList(0, Math.min(skipped.size(), MAX_NAMES))));
        AtomicFiles.writeString(file(codePath, imageSize), n.toPrettyString() + "\n");
    }

    private ObjectNode settingsJson() {
        ObjectNode n = JSON.createObjectNode();
        n.put("tokenizer", tokenizer).put("tokenizer_sha256", tokenizerSha256).put("image_size", imageSize)
                .put("ten_crop", tenCrop).put("crop_range", cropRange).put("flips", !tenCrop ? "horizontal" : "ten-crop");
        if (codebookSize > 0) {
            n.put("codebook_size", codebookSize);
        }
        return n;
    }

    /**
     * Whether and how far an extraction got, from a directory's record.
     *
     * @param finished whether the run ended (null: a record older than this flag, which cannot tell)
     * @param images   images the run was to extract (-1: not recorded)
     * @param encoded  images with codes when it finished (-1: not finished)
     * @param skipped  files refused or unreadable (-1: not finished)
     */
    public record Completion(Boolean finished, int images, int encoded, int skipped) {}

    /** The completion of a code directory's extraction, or null when it has no record (made by other tools). */
    public static Completion completion(Path codePath, int imageSize) {
        JsonNode n = readJson(codePath, imageSize);
        if (n == null) {
            return null;
        }
        return new Completion(n.has(FINISHED) ? n.get(FINISHED).asBoolean() : null, n.path("images").asInt(-1),
                n.path("encoded").asInt(-1), n.path("skipped").asInt(-1));
    }

    /**
     * Refuses a code directory whose extraction started but did not finish (an interrupted
     * {@code extract-codes}), naming how many images it has; directories without a record (made by
     * other tools) and records older than the flag pass.
     *
     * @param override how the caller lets an unfinished directory through, for the message (a flag or
     *                 a configuration field)
     */
    public static void requireFinished(Path codePath, int imageSize, String override) {
        Completion c = completion(codePath, imageSize);
        if (c == null || c.finished() == null || c.finished()) {
            return;
        }
        long have;
        try (java.util.stream.Stream<Path> s = Files.list(codePath.resolve("imagenet" + imageSize + "_labels"))) {
            have = s.filter(p -> p.getFileName().toString().endsWith(".npy")).count();
        } catch (IOException e) {
            have = 0;
        }
        throw new NppException("--code-path " + codePath + ": the extraction into it did not finish (" + have + " of "
                + (c.images() >= 0 ? c.images() : "an unknown number of") + " images encoded; "
                + file(codePath, imageSize).getFileName() + " says \"finished\": false); run extract-codes again with the "
                + "same settings to finish it, or set " + override + " to train on what is there");
    }

    /**
     * Read-only: refuses a directory whose record differs from this one.
     *
     * @return whether the directory has a record (equal to this one)
     */
    public boolean check(Path codePath) {
        ExtractionRecord have = read(codePath, imageSize);
        if (have == null) {
            return false;
        }
        String diff = differences(have);
        if (!diff.isEmpty()) {
            throw new NppException("--code-path " + codePath + " holds codes extracted with other settings (" + diff
                    + "; see " + file(codePath, imageSize).getFileName() + "); extract into another --code-path");
        }
        return true;
    }

    private String differences(ExtractionRecord have) {
        StringBuilder sb = new StringBuilder();
        if (!have.tokenizerSha256.equals(tokenizerSha256)) {
            sb.append("tokenizer ").append(have.tokenizer).append(" (sha256 ").append(abbrev(have.tokenizerSha256))
                    .append("), not ").append(tokenizer).append(" (sha256 ").append(abbrev(tokenizerSha256)).append(')');
        }
        if (have.tenCrop != tenCrop) {
            sb.append(sb.isEmpty() ? "" : ", ").append(have.tenCrop ? "--ten-crop" : "centre crop + flip").append(", not ")
                    .append(tenCrop ? "--ten-crop" : "centre crop + flip");
        } else if (tenCrop && Double.compare(have.cropRange, cropRange) != 0) {
            sb.append(sb.isEmpty() ? "" : ", ").append(String.format(Locale.ROOT, "--crop-range %s, not %s",
                    have.cropRange, cropRange));
        }
        return sb.toString();
    }

    private static String abbrev(String sha) {
        return sha.length() > 12 ? sha.substring(0, 12) + "..." : sha;
    }

    /** SHA-256 of a file, lower-case hex. */
    public static String sha256(Path file) {
        return Sha256.ofFile(file);
    }
}
