package org.nextpatch.spark;

import org.nextpatch.util.NppException;

import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Turns a failed Spark job into the command line's one-line error: the task's own
 * {@link NppException} message when a task failed with one (found in the cause chain in local mode,
 * in the failure text on a cluster), else Spark's first line.
 */
final class SparkFailures {
    private static final Pattern NPP = Pattern.compile(Pattern.quote(NppException.class.getName()) + ": ([^\\n]*)");

    private SparkFailures() {}

    static <T> T collect(Supplier<T> job) {
        try {
            return job.get();
        } catch (NppException e) {
            throw e;
        } catch (Exception e) {
            // a failed job throws SparkException, checked in Java but undeclared by the Scala API
            for (Throwable c = e.getCause(); c != null; c = c.getCause()) {
                if (c instanceof NppException n) {
                    throw new NppException(n.getMessage(), e);
                }
            }
            String text = String.valueOf(e.getMessage());
            Matcher m = NPP.matcher(text);
            if (m.find()) {
                throw new NppException(m.group(1), e);
            }
            throw new NppException("Spark job failed: " + text.lines().findFirst().orElse(text), e);
        }
    }
}
