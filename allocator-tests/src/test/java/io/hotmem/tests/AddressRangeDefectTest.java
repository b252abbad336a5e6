package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.MemoryBacking;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledOnOs;
import org.junit.jupiter.api.condition.OS;


import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Defects of the one reserved address range (commits c61adee, 7d8dde8) found by the adversarial review, each
 * failing on 2ddb4c7.
 */
class AddressRangeDefectTest {
    private static final long KIB = 1L << 10;
    private static final long TIB = 1L << 40;

    /**
     * A scoped reader's segment is a slice of the allocator's internal range segment: a reader inside a blocking
     * I/O call (or any FFM downcall) keeps that arena acquired, and close() then fails half-way with "Session is
     * acquired" from {@code AddressRange.close}, as it did for a Pin's segment before 8b8fab0.
     */
    @Test
    void closeCompletesWhileAScopedReaderIsInBlockingIo() throws Exception {
        PageAllocator a = PageAllocator.builder().name("scoped-io").backgroundThread(false).jmx(false)
                .node(NodeSpec.fixed(8L << 20)).build();
        long h = a.allocate(1 << 20, AllocFlags.NONE);
        try (BlockedInIo io = BlockedInIo.scopedReader(a, h)) {
            try {
                a.close();
            } catch (RuntimeException e) {
                java.io.StringWriter sw = new java.io.StringWriter();
                e.printStackTrace(new java.io.PrintWriter(sw));
                fail("close() threw while a scoped reader was inside blocking I/O: " + sw);
            }
            a.close();
            assertThrows(IllegalStateException.class, a::status);
        }
    }

    /**
     * The range is the address space plus a slack of one largest block ({@code pageSize << maxOrder}); with ARENA
     * backing the whole range is allocated and zero-filled at build. 64 KiB pages and maxOrder 20 make the slack
     * 64 GiB: a 64 KiB allocator cannot be built (before c61adee it took 64 KiB). At 4 KiB pages and maxOrder 20
     * the slack is 4 GiB of resident, zeroed memory for any allocator.
     */
    @Test
    void anArenaAllocatorDoesNotCommitALargestBlockOfSlack() {
        try (PageAllocator a = PageAllocator.builder().name("arena-slack").backing(MemoryBacking.ARENA)
                .pageSize(65536).maxOrder(20).backgroundThread(false).jmx(false)
                .node(NodeSpec.fixed(64 * KIB)).build()) {
            long h = a.allocate(64 * KIB, AllocFlags.NONE);
            a.setLong(h, 0, 42);
        } catch (IllegalStateException e) {
            fail("a 64 KiB ARENA allocator (64 KiB pages, maxOrder 20) could not be built: " + e.getMessage());
        }
    }

    /**
     * The default MMAP address space is min(nodes + max(1 GiB, 4 x nodes), 64 TiB): below the builder's own nodes
     * when they pass 64 TiB, so build() fails on its own default ("do not fit ... set addressSpace"), even for an
     * UNPLUGGED node that maps nothing. The Builder documents the default as the nodes plus four times as much.
     */
    @Test
    @EnabledOnOs(OS.LINUX)
    void theDefaultAddressSpaceHoldsTheBuildersOwnNodes() {
        try (PageAllocator a = PageAllocator.builder().name("huge-default").backing(MemoryBacking.MMAP)
                .pageSize(65536).maxOrder(4).backgroundThread(false).jmx(false)
                .node(NodeSpec.fixed(64 * KIB))
                .node(NodeSpec.hotRemovable(80 * TIB).startUnplugged()).build()) {
            assertTrue(a.nodeCount() == 2);
        } catch (IllegalStateException e) {
            assertTrue(!e.getMessage().contains("do not fit"), "build() failed on its own default address space: "
                    + e.getMessage());
        }
    }
}
