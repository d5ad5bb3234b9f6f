package org.nextpatch.spark;

import org.apache.spark.scheduler.AccumulableInfo;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerExecutorMetricsUpdate;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.util.LongAccumulator;
import org.nextpatch.util.Progress;
import scala.Tuple4;
import scala.jdk.javaapi.CollectionConverters;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The driver's progress bar (items/s, ETA) for a Spark job: tasks add to an accumulator as they
 * finish each batch; the driver adds what finished tasks merged to the latest values running tasks
 * reported in their executor heartbeats. A failed attempt's count is dropped by Spark, so a retried
 * partition is not counted twice.
 */
final class DriverProgress implements AutoCloseable {
    private final org.apache.spark.SparkContext sc;
    private final LongAccumulator done;
    private final Progress progress;
    private final Map<Long, Long> running = new ConcurrentHashMap<>();
    private final Listener listener = new Listener();
    private final Thread poller;
    private long shown;

    DriverProgress(SparkRunner spark, String task, long total, String unit) {
        this.sc = spark.context().sc();
        this.done = sc.longAccumulator("npp " + task);
        this.progress = Progress.start(task, total, unit);
        sc.addSparkListener(listener);
        poller = new Thread(() -> {
            try {
                while (!Thread.currentThread().isInterrupted()) {
                    update();
                    Thread.sleep(500);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "npp-spark-progress");
        poller.setDaemon(true);
        poller.start();
    }

    /** The accumulator tasks add their finished items to. */
    LongAccumulator accumulator() {
        return done;
    }

    private synchronized void update() {
        long v = done.value();
        for (long r : running.values()) {
            v += r;
        }
        if (v > shown) {
            progress.step(v - shown);
            shown = v;
        }
    }

    /** Items counted so far. */
    synchronized long shown() {
        return shown;
    }

    @Override
    public void close() {
        poller.interrupt();
        try {
            poller.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        running.clear();
        update();
        sc.removeSparkListener(listener);
        progress.close();
    }

    private final class Listener extends SparkListener {
        @Override
        public void onExecutorMetricsUpdate(SparkListenerExecutorMetricsUpdate e) {
            for (Tuple4<Object, Object, Object, scala.collection.immutable.Seq<AccumulableInfo>> t
                    : CollectionConverters.asJava(e.accumUpdates())) {
                for (AccumulableInfo info : CollectionConverters.asJava(t._4())) {
                    if (info.id() == done.id() && info.update().isDefined() && info.update().get() instanceof Number n) {
                        running.put((Long) t._1(), n.longValue());
                    }
                }
            }
        }

        @Override
        public void onTaskEnd(SparkListenerTaskEnd e) {
            running.remove(e.taskInfo().taskId());
        }
    }
}
