package org.nextpatch.util;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;

import java.io.PrintStream;
import java.util.Locale;

/**
 * Progress of one long job: periodic log lines (Log4j2, logger {@code org.nextpatch.util.Progress})
 * with rate and ETA, or a bar on an interactive terminal (stderr) once the command line has turned
 * bars on ({@link #setTerminalBars}). A library caller (a Tribuo pipeline) never gets a bar drawn on
 * its stderr: it sees log lines, which its logging configuration routes or silences. Every long job
 * in the project reports through this class.
 * <pre>{@code
 * try (Progress p = Progress.start("train", totalSteps, "step")) {
 *     ... p.step(1); p.status("loss 5.12 lr 1e-4"); ...
 * }
 * }</pre>
 */
public final class Progress implements AutoCloseable {
    private static final Logger LOG = LogManager.getLogger(Progress.class);
    private static volatile boolean terminalBars = false;

    private final String task;
    private final long total;
    private final String unit;
    private final long startNanos = System.nanoTime();
    private final boolean terminal;
    private final PrintStream out = System.err;
    private long done;
    private String status = "";
    private long lastDraw;
    private int lastLoggedDecile = -1;
    private long lastLogNanos = startNanos;
    private long lastLoggedDone = -1;

    private Progress(String task, long total, String unit) {
        this.task = task;
        this.total = Math.max(total, 0);
        this.unit = unit;
        this.terminal = terminalBars && System.console() != null;
    }

    /**
     * Starts reporting a job.
     *
     * @param task  short name shown before the bar
     * @param total number of units of work (0 if unknown)
     * @param unit  name of one unit, e.g. "step", "img"
     */
    public static Progress start(String task, long total, String unit) {
        return new Progress(task, total, unit);
    }

    /**
     * Lets jobs draw a bar when stderr is an interactive terminal (the command line does this); off
     * by default, so the libraries only log.
     */
    public static void setTerminalBars(boolean on) {
        terminalBars = on;
    }

    /** Whether bars are allowed at all (the command line's setting; off in a library). */
    static boolean terminalBarsEnabled() {
        return terminalBars;
    }

    /** Records {@code n} more units done. */
    public synchronized void step(long n) {
        done += n;
        report(false);
    }

    /** Sets the status text shown after the counts (loss, learning rate...). */
    public synchronized void status(String text) {
        status = text == null ? "" : text;
    }

    /** Units done so far. */
    public synchronized long done() {
        return done;
    }

    /** Seconds since start. */
    public double elapsedSeconds() {
        return (System.nanoTime() - startNanos) / 1e9;
    }

    /** Units per second so far. */
    public synchronized double rate() {
        double s = elapsedSeconds();
        return s > 0 ? done / s : 0;
    }

    private void report(boolean last) {
        long now = System.nanoTime();
        if (terminal) {
            if (last || now - lastDraw > 100_000_000L) {
                lastDraw = now;
                out.print("\r" + line(true) + "\u001b[K");
                if (last) {
                    out.println();
                }
                out.flush();
            }
        } else {
            int decile = total > 0 ? (int) Math.min(10, done * 10 / total) : -1;
            boolean timeUp = now - lastLogNanos > 30_000_000_000L;
            // the closing line repeats nothing: it is skipped when the last logged line already said it
            boolean news = done != lastLoggedDone;
            if ((last && news) || (news && (decile > lastLoggedDecile || timeUp))) {
                lastLoggedDecile = Math.max(decile, lastLoggedDecile);
                lastLogNanos = now;
                lastLoggedDone = done;
                LOG.info(line(false));
            }
        }
    }

    private String line(boolean bar) {
        double secs = elapsedSeconds();
        double rate = secs > 0 ? done / secs : 0;
        StringBuilder sb = new StringBuilder(task).append(' ');
        if (total > 0) {
            double frac = Math.min(1.0, (double) done / total);
            if (bar) {
                int width = 24;
                int filled = (int) Math.round(frac * width);
                sb.append('[').append("=".repeat(filled)).append(" ".repeat(width - filled)).append("] ");
            }
            sb.append(String.format(Locale.ROOT, "%3.0f%% %d/%d", frac * 100, done, total));
        } else {
            sb.append(done);
        }
        sb.append(String.format(Locale.ROOT, " %s %s/s", formatRate(rate), unit));
        if (total > 0 && rate > 0 && done < total) {
            sb.append(" ETA ").append(formatDuration((total - done) / rate));
        } else {
            sb.append(" elapsed ").append(formatDuration(secs));
        }
        if (!status.isEmpty()) {
            sb.append(' ').append(status);
        }
        return sb.toString();
    }

    private static String formatRate(double r) {
        return r >= 100 ? String.format(Locale.ROOT, "%.0f", r) : String.format(Locale.ROOT, "%.2f", r);
    }

    /** Formats seconds as {@code h:mm:ss} or {@code m:ss}. */
    public static String formatDuration(double seconds) {
        long s = Math.round(seconds);
        if (s >= 3600) {
            return String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
        }
        return String.format(Locale.ROOT, "%d:%02d", s / 60, s % 60);
    }

    /** Finishes the bar (prints the final line). */
    @Override
    public synchronized void close() {
        report(true);
    }
}
