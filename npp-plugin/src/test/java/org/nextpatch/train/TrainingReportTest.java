package org.nextpatch.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** metrics.csv grows by appends, survives a cut last line on resume; loss.png copes with long runs. */
class TrainingReportTest {

    private static TrainingListener.StepMetrics m(long step) {
        return new TrainingListener.StepMetrics(step, (int) (step / 10), step < 2500 ? 2 : 1, 5.0 - step * 1e-4, 1e-4,
                1.5, 0.01, 1000);
    }

    @Test
    void appendResumeAndLongPlot(@TempDir Path dir) throws Exception {
        TrainingReport r = new TrainingReport(dir);
        r.writeCsv();
        for (long s = 0; s < 5000; s++) {
            r.add(m(s));
            if (s % 10 == 9) {
                r.addHeldOut(s, 4.0);
                r.appendCsv();
            }
        }
        List<String> lines = Files.readAllLines(r.csvFile());
        assertEquals(5001, lines.size());
        assertEquals(TrainingReport.HEADER, lines.get(0));
        assertTrue(lines.get(10).endsWith(",4.0000000"), lines.get(10));
        // a killed run leaves a cut line; resuming at step 4000 keeps rows 0..3999 only
        Files.writeString(r.csvFile(), "5000,500,1,4.9", StandardOpenOption.APPEND);
        TrainingReport again = new TrainingReport(dir);
        again.loadEarlier(4000);
        assertEquals(4000, again.steps().size());
        again.writeCsv();
        assertEquals(4001, Files.readAllLines(again.csvFile()).size());
        r.writePng("test", List.of(2500L));
        assertTrue(Files.size(r.pngFile()) > 1000);
    }
}
