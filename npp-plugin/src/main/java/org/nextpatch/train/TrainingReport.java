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
                if (f.length < 9) {
                    continue;
                }
                long step = Long.parseLong(f[0]);
                if (step >= beforeStep) {
                    continue;
                }
                steps.add(new TrainingListener.StepMetrics(step, Integer.parseInt(f[1]), Integer.parseInt(f[2]),
                        Double.parseDouble(f[3]), Double.parseDouble(f[4]), Double.parseDouble(f[5]),
                        Double.parseDouble(f[6]), Double.parseDouble(f[7])));
                if (!f[8].isEmpty()) {
                    heldOut.put(step, Double.parseDouble(f[8]));
                }
            }
        } catch (IOException | NumberFormatException e) {
            throw new NppException("cannot read earlier metrics " + csv + ": " + e.getMessage(), e);
        }
    }

    /** Writes {@code metrics.csv}. */
    public void writeCsv() {
        StringBuilder sb = new StringBuilder(HEADER).append('\n');
        for (TrainingListener.StepMetrics m : steps) {
            Double h = heldOut.get(m.step());
            sb.append(String.format(Locale.ROOT, "%d,%d,%d,%.8g,%.8g,%.8g,%.6f,%.1f,%s%n", m.step(), m.epoch(),
                    m.patchSide(), m.loss(), m.lr(), m.gradNorm(), m.seconds(), m.tokensPerSec(),
                    h == null ? "" : String.format(Locale.ROOT, "%.8g", h)));
        }
        AtomicFiles.writeString(csv, sb.toString());
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
        double[] x = new double[steps.size()];
        double[] y = new double[steps.size()];
        double lo = Double.MAX_VALUE;
        double hi = -Double.MAX_VALUE;
        for (int i = 0; i < x.length; i++) {
            x[i] = steps.get(i).step();
            y[i] = steps.get(i).loss();
            if (Double.isFinite(y[i])) {
                lo = Math.min(lo, y[i]);
                hi = Math.max(hi, y[i]);
            }
        }
        XYSeries s = chart.addSeries("training loss (stage's patch size)", x, y);
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
        int n = 0;
        for (long b : stageStartSteps) {
            XYSeries v = chart.addSeries("stage " + (++n + 1) + " starts", new double[]{b, b}, new double[]{lo, hi});
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
