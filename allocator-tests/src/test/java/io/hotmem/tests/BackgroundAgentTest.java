package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.MemoryBacking;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.hotmem.ZoneStatus;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledOnOs;
import org.junit.jupiter.api.condition.OS;
import org.junit.jupiter.api.parallel.Isolated;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The background agent: returns long-free memory to the OS with live data intact, and stops when it should. */
@Isolated
class BackgroundAgentTest {
    private static final long MIB = 1L << 20;

    private static boolean agentRunning(String allocator) {
        return Thread.getAllStackTraces().keySet().stream()
                .anyMatch(t -> t.getName().equals("hotmem-agent-" + allocator) && t.isAlive());
    }

    @Test
    @EnabledOnOs(OS.LINUX)
    void freeMemoryGoesBackToTheOsAfterTheDelayAndLiveDataStays() throws Exception {
        try (PageAllocator a = PageAllocator.builder().name("purge").backing(MemoryBacking.MMAP)
                .purgeAfter(Duration.ofMillis(200))
                .node(NodeSpec.fixed(4 * MIB))
                .node(NodeSpec.hotRemovable(256 * MIB))
                .build()) {
            long[] hs = new long[48];
            for (int i = 0; i < hs.length; i++) {
                hs[i] = a.allocate(4 * MIB, AllocFlags.HOTREMOVABLE, 1);
                for (long off = 0; off < 4 * MIB; off += 4096) {
                    a.setLong(hs[i], off, off * 31 + i);
                }
            }
            long touched = RssLinuxTest.rssBytes();
            long freeing = System.nanoTime();
            for (int i = 8; i < hs.length; i++) {
                a.free(hs[i]);
            }
            ZoneStatus z = a.status().zone(1);
            if (System.nanoTime() - freeing < TimeUnit.MILLISECONDS.toNanos(100)) {
                // Checked only when this thread was not held up for most of the 200 ms delay.
                assertTrue(z.purgedPages() < z.freePages() - 150 * 256, "just freed, still resident: " + z);
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            long rss = touched;
            while (touched - rss < 150 * MIB && System.nanoTime() < deadline) {
                Thread.sleep(50);
                rss = RssLinuxTest.rssBytes();
            }
            assertTrue(touched - rss >= 150 * MIB, "the agent gave back only " + (touched - rss) / MIB
                    + " of 160 freed MiB (RSS " + touched / MIB + " -> " + rss / MIB + " MiB)");
            z = a.status().zone(1);
            assertTrue(z.purgedPages() >= 160 * 256, "status shows the purged pages: " + z);
            for (int i = 0; i < 8; i++) {
                for (long off = 0; off < 4 * MIB; off += 4096) {
                    assertEquals(off * 31 + i, a.getLong(hs[i], off), "live data at " + off + " of block " + i);
                }
            }
            // Purged memory is free memory: it is used again at once, and reads as zero.
            long again = a.allocate(4 * MIB, AllocFlags.HOTREMOVABLE, 1);
            assertEquals(0, a.getLong(again, 4096));
            a.setLong(again, 4096, 5);
            assertEquals(5, a.getLong(again, 4096));
            a.free(again);
            for (int i = 0; i < 8; i++) {
                a.free(hs[i]);
            }
            a.checkInvariants();
        }
    }

    @Test
    void theAgentSkipsUnpluggedNodesAndStopsOnClose() throws Exception {
        PageAllocator a = PageAllocator.builder().name("agent-stop").purgeAfter(Duration.ofMillis(20))
                .node(NodeSpec.fixed(4 * MIB))
                .node(NodeSpec.hotRemovable(16 * MIB))
                .build();
        assertTrue(agentRunning("agent-stop"), "one agent thread per allocator");
        a.free(a.allocate(MIB, AllocFlags.HOTREMOVABLE, 1));
        a.disable(1);
        a.unplug(1);
        Thread.sleep(100); // several rounds with node 1 unplugged: nothing to touch there, nothing fails
        a.plug(1);
        ZoneStatus fresh = a.status().zone(1);
        assertEquals(fresh.presentPages(), fresh.purgedPages(), "a plugged node starts untouched: " + fresh);
        a.enable(1);
        long h = a.allocate(MIB, AllocFlags.HOTREMOVABLE, 1);
        a.setLong(h, 8, 9);
        assertEquals(9, a.getLong(h, 8));
        a.free(h);
        a.checkInvariants();
        long closeStart = System.nanoTime();
        a.close();
        assertFalse(agentRunning("agent-stop"), "close() stops the agent and waits for it");
        assertTrue(System.nanoTime() - closeStart < TimeUnit.SECONDS.toNanos(2), "close does not wait out a sleep");
    }

    @Test
    void noAgentWhenAskedForNone() {
        try (PageAllocator a = PageAllocator.builder().name("no-agent").backgroundThread(false)
                .node(NodeSpec.fixed(4 * MIB)).build()) {
            a.free(a.allocate(4096, AllocFlags.NONE));
            assertFalse(agentRunning("no-agent"));
        }
    }
}
