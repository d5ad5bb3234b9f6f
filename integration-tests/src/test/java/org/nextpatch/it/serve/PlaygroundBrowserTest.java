package org.nextpatch.it.serve;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.serve.NppServer;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.Base64;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The playground in headless Chromium (Debian's {@code chromium} and {@code chromium-driver}, which
 * {@code .ci/run} installs; Selenium is given both paths, so its driver finder takes them as they are
 * and never runs Selenium Manager, which would download one): load the page,
 * pick a class, generate, and check the grid holds decoded PNGs of the model's size. Keeps a
 * screenshot in {@code target/playground.png}.
 */
class PlaygroundBrowserTest {
    static final String CHROMIUM = "/usr/bin/chromium";
    static final String DRIVER = "/usr/bin/chromedriver";

    /** Polls a condition for at most a minute (bounded; the test never asserts on speed). */
    private static void until(java.util.function.BooleanSupplier ok, java.util.function.Supplier<String> what) throws InterruptedException {
        long end = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (!ok.getAsBoolean()) {
            if (System.nanoTime() > end) {
                throw new AssertionError("timed out waiting for: " + what.get());
            }
            Thread.sleep(50);
        }
    }

    @Test
    void pickAClassGenerateAndSeeTheImages(@TempDir Path tmp) throws Exception {
        assertTrue(new File(CHROMIUM).canExecute() && new File(DRIVER).canExecute(),
                "this test needs Debian's chromium and chromium-driver: apt-get install chromium chromium-driver (as .ci/run does)");
        ServeFixture fx = new ServeFixture(tmp.resolve("model"));
        Path profile = Files.createDirectories(tmp.resolve("chromium-profile"));
        ChromeOptions o = new ChromeOptions();
        o.setBinary(CHROMIUM);
        o.addArguments("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1200,1000", "--user-data-dir=" + profile);
        ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(new File(DRIVER))
                .usingAnyFreePort().build();
        try (NppServer s = fx.start(fx.engine(), ServeFixture.options())) {
            ChromeDriver driver = new ChromeDriver(service, o);
            try {
                driver.get(s.url() + "/");
                until(() -> "true".equals(driver.findElement(By.tagName("body")).getAttribute("data-ready")), () -> "the page to read /v1/model");
                assertTrue(driver.findElement(By.id("classes")).getText().contains("seven"), "class names listed");

                driver.findElement(By.id("class-7")).click();
                WebElement count = driver.findElement(By.id("count"));
                count.clear();
                count.sendKeys("3");
                WebElement seed = driver.findElement(By.id("seed"));
                seed.clear();
                seed.sendKeys("11");
                driver.findElement(By.id("generate")).click();

                until(() -> driver.findElements(By.cssSelector("#results img.sample")).size() == 3
                        && (Boolean) ((JavascriptExecutor) driver).executeScript(
                        "return Array.from(document.querySelectorAll('#results img.sample')).every(i => i.complete && i.naturalWidth > 0)"),
                        () -> "three images shown (status: " + driver.findElement(By.id("status")).getText() + ", results: "
                                + driver.findElement(By.id("results")).getAttribute("innerHTML") + ")");
                List<WebElement> imgs = driver.findElements(By.cssSelector("#results img.sample"));
                for (WebElement img : imgs) {
                    // decoded by the browser at the model's size ...
                    assertEquals(String.valueOf(fx.imageSize), img.getAttribute("naturalWidth"));
                    assertEquals(String.valueOf(fx.imageSize), img.getAttribute("naturalHeight"));
                    // ... and a real PNG of that size
                    String src = img.getAttribute("src");
                    assertTrue(src.startsWith("data:image/png;base64,"), src);
                    BufferedImage png = ImageIO.read(new ByteArrayInputStream(
                            Base64.getDecoder().decode(src.substring(src.indexOf(',') + 1))));
                    assertNotNull(png);
                    assertEquals(fx.imageSize, png.getWidth());
                    assertEquals(fx.imageSize, png.getHeight());
                }
                assertEquals("seven", driver.findElement(By.cssSelector("#results .row h2")).getText());
                String status = driver.findElement(By.id("status")).getText();
                assertTrue(status.matches("3 image\\(s\\) in [0-9.]+ s on the server .*seed 11"), status);

                // re-roll: a new seed in the box and a new grid generated with it
                String firstSrc = imgs.get(0).getAttribute("src");
                driver.findElement(By.id("reroll")).click();
                until(() -> {
                    String st = driver.findElement(By.id("status")).getText();
                    String sd = driver.findElement(By.id("seed")).getAttribute("value");
                    return !sd.equals("11") && st.endsWith("seed " + sd)
                            && driver.findElements(By.cssSelector("#results img.sample")).size() == 3;
                }, () -> "a re-rolled generation (status: " + driver.findElement(By.id("status")).getText() + ")");
                assertTrue(!firstSrc.equals(driver.findElements(By.cssSelector("#results img.sample")).get(0).getAttribute("src")),
                        "another seed, other images");
            } finally {
                // kept for people to look at, also when the test fails
                ((JavascriptExecutor) driver).executeScript("window.scrollTo(0, 0)");
                Path shot = Path.of("target", "playground.png");
                Files.createDirectories(shot.getParent());
                Files.copy(driver.getScreenshotAs(OutputType.FILE).toPath(), shot, StandardCopyOption.REPLACE_EXISTING);
                driver.quit();
            }
        }
    }
}
