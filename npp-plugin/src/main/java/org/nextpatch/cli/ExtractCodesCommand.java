package org.nextpatch.cli;

import org.nextpatch.data.CodeExtractor;
import org.nextpatch.data.ExtractionRecord;
import org.nextpatch.util.DirLock;
import org.nextpatch.util.NppException;
import org.nextpatch.data.IdxImages;
import org.nextpatch.data.ImageFolder;
import org.nextpatch.model.VqModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code npp extract-codes}: an image folder (or IDX file) to token files in the upstream layout
 * (spec section 8).
 */
@Command(name = "extract-codes", mixinStandardHelpOptions = true,
        description = {"Encode a dataset with the VQ tokenizer into the upstream code layout (resumable).",
                "Layout: CODE_PATH/imagenet{S}_codes/{i}.npy (int64 [1, n_aug, T]) and CODE_PATH/imagenet{S}_labels/{i}.npy (int64 [1]).",
                "Images: ADM centre crop, then TenCrop (--ten-crop) or centre + horizontal flip."})
public final class ExtractCodesCommand implements Callable<Integer> {

    @Mixin
    VqOptions vq;

    @Option(names = "--data-path", required = true, paramLabel = "PATH",
            description = "Image folder with one sub-folder per class (as torchvision ImageFolder), or an IDX image file "
                    + "(MNIST/Fashion-MNIST format, .gz accepted) together with --labels-path.")
    Path dataPath;

    @Option(names = "--labels-path", paramLabel = "FILE", description = "IDX label file for an IDX --data-path.")
    Path labelsPath;

    @Option(names = "--code-path", required = true, paramLabel = "DIR", description = "Output root folder.")
    Path codePath;

    @Option(names = "--image-size", required = true, paramLabel = "S",
            description = "Crop side fed to the tokenizer (a multiple of its downsampling, 16 for VQ-16).")
    int imageSize;

    @Option(names = "--ten-crop", description = "Ten crops of the ADM crop at int(S * crop-range) instead of centre + flip.")
    boolean tenCrop;

    @Option(names = "--crop-range", defaultValue = "1.1", paramLabel = "c",
            description = "Enlargement before --ten-crop (default ${DEFAULT-VALUE}; upstream's second set uses 1.05).")
    double cropRange;

    @Option(names = "--batch-size", defaultValue = "8", description = "Images per forward pass (default ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--limit", defaultValue = "0", description = "Only the first N images (0: all).")
    int limit;

    @Mixin
    SparkOptions spark;

    @Override
    public Integer call() {
        if (spark.enabled()) {
            return SparkCommands.extract(this);
        }
        if (labelsPath != null && !IdxImages.looksLikeIdx(dataPath)) {
            throw new NppCommand.UsageException("--labels-path is only for an IDX --data-path");
        }
        if (IdxImages.looksLikeIdx(dataPath) && labelsPath == null) {
            throw new NppCommand.UsageException("--data-path " + dataPath + " is an IDX file: give its labels with --labels-path");
        }
        Path code = Outputs.canonical(codePath);
        Path data = Outputs.canonical(dataPath);
        if (code.equals(data) || (Files.isDirectory(data) && code.startsWith(data))) {
            throw new NppCommand.UsageException("--code-path " + codePath + " is inside --data-path " + dataPath
                    + ": its folders would be read as classes; choose a folder outside the data");
        }
        CodeExtractor.Settings s = new CodeExtractor.Settings(imageSize, tenCrop, cropRange, codePath, batchSize);
        Outputs.writableDir(codePath, "--code-path");
        CodeExtractor.Source source = IdxImages.looksLikeIdx(dataPath)
                ? IdxImages.read(dataPath, labelsPath, limit)
                : limited(CodeExtractor.of(ImageFolder.scan(dataPath)), limit);
        ExtractionRecord record = ExtractionRecord.of(s, vq.vqCkpt);
        record.check(codePath); // before loading anything; again under the lock
        try (VqModel model = vq.load(); DirLock lock = DirLock.acquire(codePath, "--code-path " + codePath)) {
            record = record.withCodebookSize(model.config().codebookSize());
            record.claim(codePath, source.size());
            CodeExtractor.Result r = CodeExtractor.run(model, source, s);
            record.finish(codePath, source.size(), r.written() + r.alreadyThere(), r.unreadable());
            System.out.printf("%d images encoded, %d already there, %d skipped (unreadable, truncated, over the pixel "
                    + "limit or not a regular file) -> %s%n", r.written(), r.alreadyThere(), r.unreadable().size(), s.codesDir());
            if (r.written() + r.alreadyThere() == 0 && !r.unreadable().isEmpty()) {
                throw new NppException("--data-path " + dataPath + ": none of the " + r.unreadable().size()
                        + " images could be read (first: " + r.unreadable().get(0) + ")");
            }
        }
        return 0;
    }

    private static CodeExtractor.Source limited(CodeExtractor.Source s, int limit) {
        if (limit <= 0 || limit >= s.size()) {
            return s;
        }
        return new CodeExtractor.Source() {
            @Override
            public int size() {
                return limit;
            }

            @Override
            public String describe(int i) {
                return s.describe(i);
            }

            @Override
            public org.nextpatch.io.Images.Rgb read(int i) {
                return s.read(i);
            }

            @Override
            public long label(int i) {
                return s.label(i);
            }

            @Override
            public java.util.List<String> classNames() {
                return s.classNames();
            }
        };
    }
}
