package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.MemoryBacking;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledOnOs;
import org.junit.jupiter.api.condition.OS;
import org.junit.jupiter.api.parallel.Isolated;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Real memory: plugging is cheap (MAP_NORESERVE, committed on touch) and unplugging gives memory back. */
@EnabledOnOs(OS.LINUX)
@Isolated
class RssLinuxTest {
    private static final long MIB = 1L << 20;

    static long rssBytes() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        throw new IllegalStateException("no VmRSS in /proc/self/status");
    }

    /** @return {@code count} HOTREMOVABLE allocations of {@code bytes} on node 1, each page's first long set to its offset plus i */
    private static long[] allocateAndTouch(PageAllocator a, int count, long bytes) {
        long[] handles = new long[count];
        for (int i = 0; i < count; i++) {
            handles[i] = a.allocate(bytes, AllocFlags.HOTREMOVABLE, 1);
            for (long off = 0; off < bytes; off += 4096) {
                a.setLong(handles[i], off, off + i);
            }
        }
        return handles;
    }

    @Test
    void plugIsCheapAndUnplugGivesMemoryBack() throws IOException {
        try (PageAllocator a = PageAllocator.builder().backing(MemoryBacking.MMAP)
                .node(NodeSpec.fixed(4 * MIB))
                .node(NodeSpec.hotRemovable(1024 * MIB).startUnplugged())
                .build()) {
            // Three plugs: the JVM's own work meanwhile (a collection touching fresh heap, another thread) only adds
            // to a delta, so the least of them is the plug's own cost (the page map, 13 bytes a page: 3.3 MiB of
            // heap); and every one stays far below the node's size, so a plug that committed the node only the
            // first time fails too.
            long least = Long.MAX_VALUE;
            long most = 0;
            long plugged = 0;
            for (int attempt = 0; attempt < 3; attempt++) {
                if (attempt > 0) {
                    a.unplug(1);
                }
                long before = rssBytes();
                a.plug(1);
                plugged = rssBytes();
                least = Math.min(least, plugged - before);
                most = Math.max(most, plugged - before);
            }
            assertTrue(least < 10 * MIB,
                    "plugging 1 GiB added " + least / MIB + " MiB of RSS (the least of three plugs)");
            assertTrue(most < 256 * MIB,
                    "a plug of 1 GiB added " + most / MIB + " MiB of RSS (the most of three plugs)");
            a.enable(1);
            long[] handles = allocateAndTouch(a, 64, 4 * MIB);
            long touched = rssBytes();
            assertTrue(touched - plugged >= 250 * MIB,
                    "touching 256 MiB added only " + (touched - plugged) / MIB + " MiB of RSS");
            for (int i = 0; i < handles.length; i++) {
                assertTrue(a.getLong(handles[i], 4096) == 4096 + i);
                a.free(handles[i]);
            }
            a.disable(1);
            a.unplug(1);
            long unplugged = rssBytes();
            assertTrue(touched - unplugged >= 240 * MIB,
                    "unplugging gave back only " + (touched - unplugged) / MIB + " MiB (RSS " + touched / MIB
                            + " -> " + unplugged / MIB + " MiB)");
        }
    }
    /**
     * With a resident free limit, frees return memory at once (the agent is off and the purge delay long, so only
     * the limit can): RSS falls back to within the 4 MiB a zone keeps, while the live half stays intact.
     */
    @Test
    void aResidentFreeLimitReturnsFreedMemoryAtOnce() throws IOException {
        try (PageAllocator a = PageAllocator.builder().name("rss-capped").backing(MemoryBacking.MMAP)
                .backgroundThread(false).purgeAfter(java.time.Duration.ofHours(1)).threadCacheMaxOrder(-1)
                .residentFreeLimit(0.0)
                .node(NodeSpec.fixed(4 * MIB))
                .node(NodeSpec.hotRemovable(512 * MIB))
                .build()) {
            long before = rssBytes();
            long[] handles = allocateAndTouch(a, 128, 2 * MIB);
            long touched = rssBytes();
            assertTrue(touched - before >= 250 * MIB, "touching 256 MiB added " + (touched - before) / MIB + " MiB");
            for (int i = 0; i < handles.length; i += 2) {
                a.free(handles[i]);
            }
            long halved = rssBytes();
            assertTrue(touched - halved >= 120 * MIB, "freeing 128 MiB gave back only " + (touched - halved) / MIB
                    + " MiB (RSS " + touched / MIB + " -> " + halved / MIB + " MiB)");
            for (int i = 1; i < handles.length; i += 2) {
                for (long off = 0; off < 2 * MIB; off += 4096) {
                    assertEquals(off + i, a.getLong(handles[i], off), "allocation " + i + " at " + off);
                }
                a.free(handles[i]);
            }
            long freed = rssBytes();
            assertTrue(freed - before < 16 * MIB, "after freeing everything RSS is " + (freed - before) / MIB
                    + " MiB above where it started");
        }
    }
}
