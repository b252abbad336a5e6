package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.MemoryBacking;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.hotmem.ZoneStatus;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledOnOs;
import org.junit.jupiter.api.condition.OS;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.time.Duration;
import java.util.Arrays;
import java.util.Comparator;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Black-box review of Builder.residentFreeLimit (commit 64fc5dd). */
@EnabledOnOs(OS.LINUX)
class ResidentFreeLimitReviewDefectTest {
    private static final long KIB = 1024;
    private static final long MIB = 1024 * KIB;

    private static PageAllocator.Builder capped(String name, double limit, long nodeBytes) {
        return PageAllocator.builder().name(name).backing(MemoryBacking.MMAP).backgroundThread(false)
                .purgeAfter(Duration.ofHours(1)).threadCacheMaxOrder(-1).residentFreeLimit(limit)
                .node(NodeSpec.fixed(nodeBytes));
    }

    /**
     * Builder.residentFreeLimit: "Caps the free memory each zone keeps resident, as a fraction of the zone's memory
     * in use (at least 4 MiB per zone)"; README: "each zone then keeps at most 5% of its memory in use (and at least
     * 4 MiB) free and resident". Resident free memory the zone kept while its data was large is never given back
     * when the data shrinks (only the block being freed is checked), so it stays far over the cap.
     */
    @Test
    void theCapHoldsWhenTheDataShrinks() {
        double limit = 0.1;
        try (PageAllocator a = capped("rfl-shrink", limit, 128 * MIB).build()) {
            long[] h = new long[2048];
            for (int i = 0; i < h.length; i++) {
                h[i] = a.allocate(64 * KIB, AllocFlags.NONE); // fills the 128 MiB zone
            }
            Long[] byAddress = Arrays.stream(h).boxed().toArray(Long[]::new);
            Arrays.sort(byAddress, Comparator.comparingLong(x -> a.segment(x).address()));
            // 180 frees whose buddies stay live (11 MiB resident free: under 10% of the 117 MiB in use) ...
            for (int i = 0; i < 360; i += 2) {
                a.free(byAddress[i]);
            }
            // ... then the application drops most of its data.
            for (int i = 512; i < byAddress.length; i++) {
                a.free(byAddress[i]);
            }
            a.checkInvariants();
            ZoneStatus z = a.status().nodes().get(0).zones().get(0);
            long residentFree = z.freePages() - z.purgedPages();
            long cap = Math.max(4 * MIB / 4096, (long) (z.activePages() * limit));
            assertTrue(residentFree <= cap, "resident free " + residentFree * 4 / 1024 + " MiB, cap "
                    + cap * 4 / 1024 + " MiB (max(4 MiB, " + limit + " x " + z.activePages() * 4 / 1024
                    + " MiB in use)): " + z);
        }
    }

    /**
     * With a cap, free() calls madvise(MADV_DONTNEED) under the zone lock and lets its failure escape half way
     * through the free: on mlock-ed memory (mlock/mlockall, common in the latency-sensitive processes an off-heap
     * allocator serves) madvise fails with EINVAL, the live handle's free throws IllegalStateException after the
     * handle was already freed, and the zone is left with pages counted free that are on no free list.
     */
    @Test
    void freeOfMlockedMemorySucceedsAndKeepsTheZoneConsistent() throws Throwable {
        Linker linker = Linker.nativeLinker();
        MethodHandle mlock = linker.downcallHandle(linker.defaultLookup().find("mlock").orElseThrow(),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
        MethodHandle munlock = linker.downcallHandle(linker.defaultLookup().find("munlock").orElseThrow(),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
        try (PageAllocator a = capped("rfl-mlock", 0.0, 16 * MIB).build()) {
            long big = a.allocate(4 * MIB, AllocFlags.NONE);
            long run = a.allocate(3 * MIB, AllocFlags.NONE); // an exact run: freed as tiles of 2 MiB and 1 MiB
            MemorySegment s = a.segment(run);
            MemorySegment locked = s.asSlice(0, 64 * KIB);
            int rc = (int) mlock.invokeExact(locked, locked.byteSize());
            assumeTrue(rc == 0, "mlock not permitted here");
            try {
                a.free(big); // 4 MiB resident free: the floor, kept
                assertDoesNotThrow(() -> a.free(run), "free of a live handle");
            } finally {
                int ignored = (int) munlock.invokeExact(locked, locked.byteSize());
            }
            a.checkInvariants();
        }
    }
}
