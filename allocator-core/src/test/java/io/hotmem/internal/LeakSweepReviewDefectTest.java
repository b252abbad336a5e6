package io.hotmem.internal;

import io.hotmem.LeakDetection;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Review of c6612ed ("SAMPLED: a free leaves its tracked allocation's record ..."), against a real
 * {@link HandleTable}, as {@link LeakDetectorRecordsTest} does.
 */
class LeakSweepReviewDefectTest {
    private final HandleTable table = new HandleTable();

    @AfterEach
    void releaseTag() {
        table.releaseTag();
    }

    private long publishTracked(int slot, long size) {
        return HandleProtocol.publish(table, slot, HandleLayout.location(0, slot), size, HandleLayout.FLAG_TRACKED);
    }

    private void free(long h) {
        HandleProtocol.free(table.chunk(h), HandleLayout.base(h), h);
    }

    /**
     * The LeakDetector class comment and README "Metadata footprint" say the records number "at most about twice
     * the tracked live allocations plus 1,024". The sweep threshold is twice the records left by the last sweep and
     * never comes down otherwise, so the bound is twice the tracked live allocations <em>at the last sweep</em>:
     * after a peak of 3,000 tracked live allocations is freed, the map keeps 3,000 records (each with its
     * site's Throwable, 1-2 KB) with none live and, while the program goes on allocating, climbs to about 4,096
     * before the next sweep, with never more than one tracked allocation live.
     */
    @Test
    void recordsStayWithinTwiceTheTrackedLiveAllocationsPlus1024() {
        LeakDetector leaks = new LeakDetector("t", LeakDetection.SAMPLED);
        int peak = 3000;
        long[] hs = new long[peak];
        for (int i = 0; i < peak; i++) {
            hs[i] = publishTracked(table.acquireSlot(), 4096);
            leaks.track(hs[i], 4096, LeakDetector.site(), table);
        }
        for (long h : hs) {
            free(h);
        }
        int afterFrees = leaks.records(); // none live
        // The program goes on: one short-lived tracked allocation at a time.
        int slot = table.acquireSlot();
        int max = 0;
        for (int i = 0; i < 5000; i++) {
            long h = publishTracked(slot, 64);
            leaks.track(h, 64, LeakDetector.site(), table);
            max = Math.max(max, leaks.records());
            free(h);
        }
        assertTrue(afterFrees <= 1024 && max <= 2 + 1024, "records: " + afterFrees + " once every tracked "
                + "allocation was freed, then up to " + max + " with at most 1 tracked allocation live");
        assertEquals(0, leaks.report(table).liveAllocations().size());
    }
}
