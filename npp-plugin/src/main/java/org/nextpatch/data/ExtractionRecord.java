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
import java.util.Locale;

/**
 * The settings a code directory was extracted with, kept beside the codes in
 * {@code {code_path}/imagenet{S}_extraction.json}: the tokenizer (path and SHA-256), the image size,
 * ten crops or centre + flip, the crop range. A later run into the same directory must use the same
 * settings, so a directory never mixes codes of two tokenizers or two crop schemes; training reads the
 * record into its provenance.
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
        Path f = file(codePath, imageSize);
        if (!Files.isRegularFile(f)) {
            return null;
        }
        try {
            JsonNode n = JSON.readTree(f.toFile());
            return new ExtractionRecord(n.path("tokenizer").asText(), n.path("tokenizer_sha256").asText(),
                    n.path("image_size").asInt(), n.path("ten_crop").asBoolean(), n.path("crop_range").asDouble(),
                    n.path("codebook_size").asInt(0));
        } catch (IOException e) {
            throw new NppException(f + ": unreadable extraction record: " + e.getMessage(), e);
        }
    }

    /**
     * Before any work: a directory with a record must have been extracted with these settings (the
     * tokenizer compared by content, not path); one without gets this record.
     *
     * @throws NppException naming the directory and the settings that differ
     */
    public void claim(Path codePath) {
        if (!check(codePath)) {
            ObjectNode n = JSON.createObjectNode();
            n.put("tokenizer", tokenizer).put("tokenizer_sha256", tokenizerSha256).put("image_size", imageSize)
                    .put("ten_crop", tenCrop).put("crop_range", cropRange).put("flips", !tenCrop ? "horizontal" : "ten-crop");
            if (codebookSize > 0) {
                n.put("codebook_size", codebookSize);
            }
            AtomicFiles.writeString(file(codePath, imageSize), n.toPrettyString() + "\n");
        }
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
