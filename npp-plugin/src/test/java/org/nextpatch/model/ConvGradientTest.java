package org.nextpatch.model;

import ai.djl.pytorch.jni.JniUtils;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Float32 convolution gradients against float64, at output-channel counts around the SIMD blocks
 * (1, 3, 8, 15, 16, 17) and with 1 and 2 engine threads. libtorch 2.5.1's oneDNN computes the input
 * gradient wrong on some CPUs when the output-channel count is not a multiple of 8/16; the project's
 * {@link Convolutions#conv2d} must be right everywhere. On an affected CPU these checks fail when the
 * channel padding in {@code Convolutions} is removed. Tolerance: {@value EngineSelfTest#TOLERANCE} of
 * the largest float64 magnitude.
 */
class ConvGradientTest {

    @Test
    void projectConvolutionGradientsMatchFloat64AtOneAndTwoThreads() {
        ai.djl.engine.Engine.getEngine("PyTorch"); // loads libtorch before JniUtils is called
        int before = JniUtils.getNumThreads();
        JniUtils.setNumThreads(2); // the self-test runs at 1 thread and at the current count
        try {
            List<EngineSelfTest.Check> checks = EngineSelfTest.gradients();
            for (EngineSelfTest.Check c : checks) {
                System.out.println("engine self-test: " + c);
            }
            long settings = checks.stream().mapToInt(EngineSelfTest.Check::threads).distinct().count();
            long projectConvChecks = checks.stream().filter(c -> !c.avoided() && c.op().startsWith("conv")).count();
            assertEquals(2L * EngineSelfTest.CONV_CHANNELS.length * settings, projectConvChecks,
                    "input and weight gradient at 6 channel counts for every thread setting");
            assertTrue(checks.stream().anyMatch(c -> c.threads() == 1) && checks.stream().anyMatch(c -> c.threads() == 2));
            for (EngineSelfTest.Check c : checks) {
                if (!c.avoided()) {
                    assertTrue(c.ok(), c.toString());
                }
            }
        } finally {
            JniUtils.setNumThreads(before);
        }
    }

    @Test
    void forwardAndOtherOpsMatchFloat64() {
        for (EngineSelfTest.Check c : EngineSelfTest.all()) {
            if (!c.avoided()) {
                assertTrue(c.ok(), c.toString());
            }
        }
    }
}
