package org.nextpatch.train;

import org.nextpatch.util.AtomicFiles;
import org.nextpatch.util.NppException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The metrics of a run on disk: {@code metrics.csv} (one row per optimizer step; the held-out loss on
 * each epoch's last row) and {@code loss.png} (training loss per step, held-out loss per epoch,
 * stage boundaries as dashed vertical lines). Both written atomically, rewritten as the run goes.
 */
public final class TrainingReport {
    /** The CSV header. */
    public static final String HEADER = "step,epoch,patch_side,loss,lr,grad_norm,step_seconds,tokens_per_s,held_out_loss";

    private final Path csv;
    private final Path png;
    private final List<TrainingListener.StepMetrics> steps = new ArrayList<>();
    private final Map<Long, Double> heldOut = new HashMap<>();
    private int written;
    private boolean plotSkipLogged;

    /** Whether the optional plotting library is on the class path. */
    static final boolean PLOTTING = present("org.knowm.xchart.XYChart");
    private static final org.apache.logging.log4j.Logger LOG = org.apache.logging.log4j.LogManager.getLogger(TrainingReport.class);

    /** A report in {@code dir} ({@code metrics.csv}, {@code loss.png}). */
    public TrainingReport(Path dir) {
        this.csv = dir.resolve("metrics.csv");
        this.png = dir.resolve("loss.png");
    }

    /** The CSV file. */
    public Path csvFile() {
        return csv;
    }

    /** The PNG file. */
    public Path pngFile() {
        return png;
    }

    /** Adds a step. */
    public void add(TrainingListener.StepMetrics m) {
        steps.add(m);
    }

    /** Records an epoch's held-out loss (on its last step's row). */
    public void addHeldOut(long lastStep, double loss) {
        if (!Double.isNaN(loss)) {
            heldOut.put(lastStep, loss);
        }
    }

    /** Steps recorded so far. */
    public List<TrainingListener.StepMetrics> steps() {
        return List.copyOf(steps);
    }

    /**
     * Loads the rows of an earlier run's {@code metrics.csv} with step below {@code beforeStep}
     * (resume: the continued run's file holds the whole history).
     */
    public void loadEarlier(long beforeStep) {
        if (!Files.isRegularFile(csv)) {
            return;
        }
        try {
            List<String> lines = Files.readAllLines(csv, StandardCharsets.UTF_8);
            for (int i = 1; i < lines.size(); i++) {
                String[] f = lines.get(i).split(",", -1);
                if (f.length != 9) {
                    continue; // a line cut short by a killed run
                }
                try {
                    long step = Long.parseLong(f[0]);
                    if (step >= beforeStep) {
                        continue;
                    }
                    TrainingListener.StepMetrics m = new TrainingListener.StepMetrics(step, Integer.parseInt(f[1]),
                            Integer.parseInt(f[2]), Double.parseDouble(f[3]), Double.parseDouble(f[4]),
                            Double.parseDouble(f[5]), Double.parseDouble(f[6]), Double.parseDouble(f[7]));
                    Double h = f[8].isEmpty() ? null : Double.parseDouble(f[8]);
                    steps.add(m);
                    if (h != null) {
                        heldOut.put(step, h);
                    }
                } catch (NumberFormatException cut) {
                    // a line cut short by a killed run: skipped
                }
            }
        } catch (IOException e) {
            throw new NppException("cannot read earlier metrics " + csv + ": " + e.getMessage(), e);
        }
    }

    /** Rewrites {@code metrics.csv} atomically with every row recorded so far (start and resume). */
    public void writeCsv() {
        StringBuilder sb = new StringBuilder(HEADER).append('\n');
        for (TrainingListener.StepMetrics m : steps) {
            row(sb, m);
        }
        AtomicFiles.writeString(csv, sb.toString());
        written = steps.size();
    }

    /**
     * Appends the rows recorded since the last write. A long run adds rows for days; rewriting the
     * whole file every epoch would cost quadratic time, so the running file grows by appends (a
     * killed run can leave one cut line, which {@link #loadEarlier} skips).
     */
    public void appendCsv() {
        if (written == 0 && !Files.isRegularFile(csv)) {
            writeCsv();
            return;
        }
        if (written >= steps.size()) {
            return;
        }
        StringBuilder sb = new StringBuilder();
        for (int i = written; i < steps.size(); i++) {
            row(sb, steps.get(i));
        }
        try {
            Files.writeString(csv, sb.toString(), StandardCharsets.UTF_8, java.nio.file.StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new NppException("cannot append to " + csv + ": " + e.getMessage(), e);
        }
        written = steps.size();
    }

    private void row(StringBuilder sb, TrainingListener.StepMetrics m) {
        Double h = heldOut.get(m.step());
        sb.append(String.format(Locale.ROOT, "%d,%d,%d,%.8g,%.8g,%.8g,%.6f,%.1f,%s%n", m.step(), m.epoch(),
                m.patchSide(), m.loss(), m.lr(), m.gradNorm(), m.seconds(), m.tokensPerSec(),
                h == null ? "" : String.format(Locale.ROOT, "%.8g", h)));
    }

    /**
     * Writes {@code loss.png}; {@code stageStartSteps} are the first steps of stages after the first.
     * The plot needs XChart, an optional dependency (the command line has it): without it on the
     * class path only {@code metrics.csv} is written.
     */
    public void writePng(String title, List<Long> stageStartSteps) {
        if (steps.isEmpty()) {
            return;
        }
        if (!PLOTTING) {
            if (!plotSkipLogged) {
                plotSkipLogged = true;
                LOG.info("no loss.png: XChart (org.knowm.xchart:xchart) is not on the class path; metrics.csv has the numbers");
            }
            return;
        }
        LossPlot.write(png, title, steps, heldOut, stageStartSteps);
    }

    private static boolean present(String className) {
        try {
            Class.forName(className, false, TrainingReport.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
    }
}
