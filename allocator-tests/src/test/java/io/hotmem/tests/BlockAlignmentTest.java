package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.MemoryBacking;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every block's memory starts at a multiple of the page size, whatever the backing: what a page allocator is for
 * (and what Linux gives, where MMAP's natural alignment is 4 KiB only).
 */
class BlockAlignmentTest {

    @ParameterizedTest(name = "pageSize {0}, {1}")
    @CsvSource({"4096, MMAP", "4096, ARENA", "16384, MMAP", "65536, MMAP", "65536, ARENA", "65536, AUTO"})
    void everyBlockIsAlignedToThePageSize(int pageSize, MemoryBacking backing) {
        if (backing == MemoryBacking.MMAP) {
            Assumptions.assumeTrue(System.getProperty("os.name").toLowerCase().contains("linux"),
                    "MMAP backing needs Linux");
        }
        PageAllocator a = PageAllocator.builder().name("align").pageSize(pageSize).maxOrder(3).backing(backing)
                .backgroundThread(false).jmx(false)
                // Nodes under 2 MiB: Linux aligns larger anonymous mappings to 2 MiB (for huge pages), which would
                // hide a backing that does not align by itself.
                .node(NodeSpec.fixed(16L * pageSize).movableBytes(8L * pageSize))
                .node(NodeSpec.hotRemovable(16L * pageSize))
                .node(NodeSpec.hotRemovable(16L * pageSize).startUnplugged())
                .build();
        try {
            a.plug(2);
            a.enable(2);
            SplittableRandom r = new SplittableRandom(pageSize + backing.ordinal());
            List<String> misaligned = new ArrayList<>();
            int checked = 0;
            for (int round = 0; round < 40; round++) {
                List<Long> live = new ArrayList<>();
                while (true) {
                    long bytes = 1 + r.nextLong(a.maxAllocationBytes());
                    int flags = r.nextBoolean() ? AllocFlags.HOTREMOVABLE : AllocFlags.NONE;
                    long h = a.tryAllocate(bytes, flags, r.nextInt(3));
                    if (h == PageAllocator.NULL_HANDLE) {
                        break;
                    }
                    live.add(h);
                    long address;
                    try (Pin pin = a.pin(h)) {
                        address = pin.segment().address();
                    }
                    checked++;
                    if (address % pageSize != 0) {
                        misaligned.add("0x" + Long.toHexString(address) + " (" + bytes + " bytes in zone "
                                + a.zoneOf(h) + ")");
                    }
                    if (flags == AllocFlags.NONE) {
                        assertEquals(address, a.segment(h).address(), "pin and segment of a fixed block");
                    }
                }
                for (long h : live) {
                    a.free(h);
                }
            }
            assertTrue(checked > 50, "checked " + checked);
            int n = checked;
            assertTrue(misaligned.isEmpty(), () -> misaligned.size() + " of " + n + " blocks are not aligned to "
                    + "the page size " + pageSize + ", e.g. " + misaligned.subList(0, Math.min(5,
                    misaligned.size())));
            Snapshots.check(a);
        } finally {
            a.close();
        }
    }

    /**
     * Sixteen 64 KiB-page allocators, each built after a small 4 KiB-page one whose node is 1 to 16 pages long:
     * so the regions they map start at every 4 KiB offset modulo 64 KiB, whatever the kernel's placement, and a
     * backing that does not align its region shows in at least one of them.
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"MMAP", "AUTO", "ARENA"})
    void sixtyFourKiBPagesAreAlignedWhereverTheRegionLands(MemoryBacking backing) {
        if (backing == MemoryBacking.MMAP) {
            Assumptions.assumeTrue(System.getProperty("os.name").toLowerCase().contains("linux"),
                    "MMAP backing needs Linux");
        }
        List<PageAllocator> open = new ArrayList<>();
        List<String> misaligned = new ArrayList<>();
        try {
            for (int k = 1; k <= 16; k++) {
                PageAllocator filler = PageAllocator.builder().name("filler").pageSize(4096).maxOrder(0)
                        .backing(backing).backgroundThread(false).jmx(false)
                        .node(NodeSpec.fixed(k * 4096L))
                        .build();
                open.add(filler);
                PageAllocator a = PageAllocator.builder().name("align64k").pageSize(65536).maxOrder(2)
                        .backing(backing).backgroundThread(false).jmx(false)
                        .node(NodeSpec.fixed(8 * 65536L))
                        .build();
                open.add(a);
                for (int i = 0; i < 8; i++) {
                    long h = a.allocate(65536, AllocFlags.NONE);
                    long address = a.segment(h).address();
                    if (address % 65536 != 0) {
                        misaligned.add("0x" + Long.toHexString(address));
                    }
                }
            }
            assertTrue(misaligned.isEmpty(), () -> misaligned.size() + " of 128 blocks of 64 KiB pages are not "
                    + "aligned to 64 KiB, e.g. " + misaligned.subList(0, Math.min(5, misaligned.size())));
        } finally {
            for (PageAllocator a : open) {
                a.close();
            }
        }
    }
}
