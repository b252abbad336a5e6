package io.hotmem.bench;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The fragmentation benchmark in {@code --quick} mode, each allocator in its child JVM as in a real run: every
 * child verifies its data, and every ratio is finite and positive. One in two buffers survives the settle (not one
 * in 20) so that the kept bytes (16 MiB) stand well above the few MiB by which the JVM's own RSS moves.
 */
class FragmentationBenchmarkTest {

    @Test
    void quickRunOfEveryAllocatorVerifiesWithFinitePositiveRatios(@TempDir Path dir) throws IOException {
        Path json = dir.resolve("results.json");
        Path png = dir.resolve("chart.png");
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int exit = FragmentationBenchmark.run(new String[]{"--quick", "--survivor-every", "2", "--out",
                json.toString(), "--chart", png.toString()}, new PrintStream(bytes, true, StandardCharsets.UTF_8));
        String out = bytes.toString(StandardCharsets.UTF_8);
        assertEquals(0, exit, out);
        JsonObject root = JsonParser.parseString(Files.readString(json)).getAsJsonObject();
        assertEquals(32, root.getAsJsonObject("options").get("liveMiB").getAsInt(), out);
        JsonArray results = root.getAsJsonArray("results");
        Set<String> seen = new HashSet<>();
        for (JsonElement e : results) {
            JsonObject r = e.getAsJsonObject();
            String name = r.get("allocator").getAsString();
            seen.add(name);
            assertTrue(r.get("verified").getAsBoolean(), name + ": " + out);
            for (String ratio : List.of("peakRatio", "settledRatio")) {
                double v = r.get(ratio).getAsDouble();
                assertTrue(Double.isFinite(v) && v > 0, name + " " + ratio + " = " + v + "\n" + out);
            }
            assertTrue(r.get("liveBytesAtPeak").getAsLong() >= 32L << 20, name + ": " + out);
            assertTrue(r.get("keptBytes").getAsLong() > 0, name + ": " + out);
            assertTrue(out.contains("| " + r.get("label").getAsString() + " | "), out);
        }
        assertEquals(Set.of("hotmem", "hotmem-capped", "netty-pooled", "netty-adaptive"), seen, out);
        assertTrue(Files.size(png) > 1000, "chart written");
    }

    @Test
    void sizesAreLogUniformInRangeAndTheSameForTheSameSeed() {
        SplittableRandom a = new SplittableRandom(42);
        SplittableRandom b = new SplittableRandom(42);
        double ratio = 64;
        int belowMiddle = 0;
        int n = 100_000;
        for (int i = 0; i < n; i++) {
            int s = FragmentationBenchmark.Workload.size(a, 4096, ratio);
            assertEquals(s, FragmentationBenchmark.Workload.size(b, 4096, ratio));
            assertTrue(s >= 4096 && s <= 256 * 1024, "size " + s);
            if (s < 32 * 1024) { // the geometric middle of 4 KiB and 256 KiB
                belowMiddle++;
            }
        }
        assertTrue(Math.abs(belowMiddle - n / 2) < n / 50, "half below the geometric middle: " + belowMiddle);
    }

    @Test
    void fillBytesAreNeverZero() {
        for (int id = 0; id < 1_000_000; id++) {
            assertNotEquals(0, FragmentationBenchmark.Workload.fillByte(id), "id " + id);
        }
    }

    @Test
    void badOptionsExitWithUsage() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int exit = FragmentationBenchmark.run(new String[]{"--only", "jemalloc"},
                new PrintStream(bytes, true, StandardCharsets.UTF_8));
        assertEquals(2, exit);
        assertTrue(bytes.toString(StandardCharsets.UTF_8).contains("unknown allocator 'jemalloc'"));
        bytes.reset();
        assertEquals(0, FragmentationBenchmark.run(new String[]{"--help"},
                new PrintStream(bytes, true, StandardCharsets.UTF_8)));
        assertTrue(bytes.toString(StandardCharsets.UTF_8).startsWith("usage:"));
    }
}
