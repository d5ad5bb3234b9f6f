package org.nextpatch.npp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.nextpatch.Fixtures;
import org.nextpatch.util.NppException;

import java.io.IOException;
import java.nio.file.Files;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Spec section 5: the coarse-to-fine stage schedule and the per-stage learning-rate cycle, against
 * the upstream code's values in fixture {@code schedule.json} (four settings).
 */
class ScheduleTest {

    @Test
    void reproducesFixtureSchedules() throws IOException {
        JsonNode all = new ObjectMapper().readTree(Files.readAllBytes(Fixtures.file("schedule.json")));
        assertEquals(4, all.size());
        for (JsonNode c : all) {
            int epochs = c.get("epochs").asInt();
            int spe = c.get("steps_per_epoch").asInt();
            StageSchedule st = StageSchedule.of(epochs, c.get("patch_level").asInt(), c.get("epoch_rate").asDouble());
            String what = "setting " + c;
            assertArrayEquals(ints(c.get("stage_end_epochs")), st.stageEndEpochs(), what);
            assertArrayEquals(ints(c.get("tokens_per_patch_by_epoch")), st.tokensPerPatchByEpoch(), what);
            LrSchedule lr = new LrSchedule(st, spe, true, c.get("warmup_epochs").asDouble(),
                    c.get("decay_ratio").asDouble(), c.get("lr").asDouble(), c.get("end_lr").asDouble());
            JsonNode want = c.get("lr_by_step");
            assertEquals(want.size(), lr.totalSteps(), what);
            for (int s = 0; s < want.size(); s++) {
                double w = want.get(s).asDouble();
                double got = lr.lr(s);
                // tolerance: 1e-12 relative (absolute 1e-18 where the rate is 0)
                if (Math.abs(got - w) > 1e-12 * Math.abs(w) + 1e-18) {
                    fail(what + ": step " + s + " lr " + got + " != " + w);
                }
            }
        }
    }

    @Test
    void constantWithoutScheduler() {
        LrSchedule lr = LrSchedule.constant(StageSchedule.of(10, 2, 0.5), 3, 1e-4);
        for (int s = 0; s < 30; s++) {
            assertEquals(1e-4, lr.lr(s), 0.0);
        }
    }

    @Test
    void patchSidesAndUnknownLevels() {
        StageSchedule st = StageSchedule.of(300, 2, 0.5);
        assertEquals(2, st.patchSideAt(0));
        assertEquals(2, st.patchSideAt(149));
        assertEquals(1, st.patchSideAt(150));
        assertArrayEquals(new int[]{1}, StageSchedule.of(5, 7, 0.5).tokensPerPatch());
        assertArrayEquals(new int[]{1, 1, 1, 1, 1}, StageSchedule.of(5, 1, 0.5).tokensPerPatchByEpoch());
        assertThrows(NppException.class, () -> StageSchedule.of(10, 4, 0.5).checkGrid(4)); // p = 8 > G = 4
        StageSchedule.of(10, 3, 0.5).checkGrid(4);
        assertThrows(NppException.class, () -> StageSchedule.of(10, 2, 0.0));
    }

    /** Spec section 5: the cost figures of the method (G = 16, 300 epochs). */
    @Test
    void relativeCost() {
        assertEquals(0.625, StageSchedule.of(300, 2, 0.5).relativeCost(16), 1e-12);
        assertEquals(0.578, StageSchedule.of(300, 3, 0.5).relativeCost(16), 5e-4);
        assertEquals(0.572, StageSchedule.of(300, 4, 0.5).relativeCost(16), 5e-4);
        assertEquals(0.40, StageSchedule.of(300, 4, 0.67).relativeCost(16), 5e-3);
        assertEquals(1.0, StageSchedule.nextToken(300).relativeCost(16), 0.0);
    }

    private static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).asInt();
        }
        return out;
    }
}
