package org.nextpatch.train;

import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.lines.SeriesLines;
import org.knowm.xchart.style.markers.SeriesMarkers;
import org.nextpatch.util.AtomicFiles;
import org.nextpatch.util.NppException;

import java.awt.Color;
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

    /** Writes {@code loss.png}; {@code stageStartSteps} are the first steps of stages after the first. */
    public void writePng(String title, List<Long> stageStartSteps) {
        if (steps.isEmpty()) {
            return;
        }
        System.setProperty("java.awt.headless", "true");
        XYChart chart = new XYChartBuilder().width(900).height(500).title(title)
                .xAxisTitle("optimizer step").yAxisTitle("loss").build();
        chart.getStyler().setChartBackgroundColor(Color.WHITE);
        chart.getStyler().setLegendPosition(org.knowm.xchart.style.Styler.LegendPosition.InsideNE);
        // At most about 2000 plotted points: long runs are averaged over consecutive steps.
        int per = Math.max(1, (steps.size() + 1999) / 2000);
        int n = (steps.size() + per - 1) / per;
        double[] x = new double[n];
        double[] y = new double[n];
        double lo = Double.MAX_VALUE;
        double hi = -Double.MAX_VALUE;
        for (int i = 0; i < n; i++) {
            int from = i * per;
            int to = Math.min(steps.size(), from + per);
            double sx = 0;
            double sy = 0;
            for (int j = from; j < to; j++) {
                sx += steps.get(j).step();
                sy += steps.get(j).loss();
            }
            x[i] = sx / (to - from);
            y[i] = sy / (to - from);
            if (Double.isFinite(y[i])) {
                lo = Math.min(lo, y[i]);
                hi = Math.max(hi, y[i]);
            }
        }
        XYSeries s = chart.addSeries(per == 1 ? "training loss (stage's patch size)"
                : "training loss (stage's patch size), mean of " + per + " steps", x, y);
        s.setMarker(SeriesMarkers.NONE);
        if (!heldOut.isEmpty()) {
            List<Long> keys = new ArrayList<>(heldOut.keySet());
            keys.sort(null);
            double[] hx = new double[keys.size()];
            double[] hy = new double[keys.size()];
            for (int i = 0; i < hx.length; i++) {
                hx[i] = keys.get(i);
                hy[i] = heldOut.get(keys.get(i));
                lo = Math.min(lo, hy[i]);
                hi = Math.max(hi, hy[i]);
            }
            XYSeries h = chart.addSeries("held-out next-token loss", hx, hy);
            h.setMarker(SeriesMarkers.CIRCLE);
        }
        if (lo > hi) {
            lo = 0;
            hi = 1;
        }
        int stage = 1;
        for (long b : stageStartSteps) {
            XYSeries v = chart.addSeries("stage " + (++stage) + " starts", new double[]{b, b}, new double[]{lo, hi});
            v.setMarker(SeriesMarkers.NONE);
            v.setLineStyle(SeriesLines.DASH_DASH);
            v.setLineColor(Color.GRAY);
        }
        try {
            byte[] bytes = BitmapEncoder.getBitmapBytes(chart, BitmapEncoder.BitmapFormat.PNG);
            AtomicFiles.write(png, bytes);
        } catch (IOException e) {
            throw new NppException("cannot write " + png + ": " + e.getMessage(), e);
        }
    }
}
