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
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@code loss.png} of a training run. Kept apart from {@link TrainingReport} because XChart is an
 * optional dependency: this class is loaded only when it is on the class path.
 */
final class LossPlot {
    private LossPlot() {}

    /** Writes the plot of {@code steps} (and held-out losses by step) to {@code png}. */
    static void write(Path png, String title, List<TrainingListener.StepMetrics> steps, Map<Long, Double> heldOut,
                      List<Long> stageStartSteps) {
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
