package io.hotmem.internal;

import io.hotmem.StaleHandleException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static io.hotmem.internal.HandleLayout.FREE;
import static io.hotmem.internal.HandleLayout.MOVING;
import static io.hotmem.internal.HandleLayout.PINS_MASK;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every transition of the state word ({@link HandleProtocol}), one at a time, on a real table entry. */
class HandleProtocolTest {
    private final HandleTable table = new HandleTable();

    @AfterEach
    void releaseTag() {
        table.releaseTag();
    }

    private long publish(long location) {
        return HandleProtocol.publish(table, table.acquireSlot(), location, 64, 1);
    }

    private long[] chunk(long h) {
        return table.chunk(h);
    }

    @Test
    void aNewSlotStartsFreeAtTheTablesFirstGeneration() {
        int slot = table.acquireSlot();
        long s = HandleTable.lvState(table.chunkOfSlot(slot), HandleLayout.baseOfSlot(slot));
        assertEquals(HandleLayout.freeState(table.firstGeneration), s);
        long h = HandleProtocol.publish(table, slot, 7, 64, 1);
        assertEquals(table.firstGeneration, HandleLayout.genOfHandle(h));
        assertEquals(table.tag, HandleLayout.tagOf(h));
    }

    /**
     * close() retires the table while a slow-path allocation holds a slot and a block it has not published yet
     * (seventh review): the publish fails with IllegalStateException, which the facade reports as the allocator
     * closed (it was a NullPointerException from the retired chunk).
     */
    @Test
    void aPublishAfterTheTableIsRetiredThrowsIllegalState() {
        int slot = table.acquireSlot();
        table.retire();
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> HandleProtocol.publish(table, slot, 7, 64, 1));
        assertTrue(e.getMessage().contains("slot " + slot) && e.getMessage().contains("retired"), e.getMessage());
    }

    @Test
    void publishMakesLocationSizeAndFlagsVisibleWithALiveState() {
        long h = publish(HandleLayout.location(2, 40));
        long[] c = chunk(h);
        int b = HandleLayout.base(h);
        long s = HandleProtocol.beginRead(c, b, h);
        assertEquals(0, s & (FREE | MOVING | PINS_MASK));
        assertEquals(HandleLayout.location(2, 40), HandleTable.lpLocation(c, b));
        assertEquals(64, HandleTable.lpSize(c, b));
        assertEquals(1, HandleTable.lpFlags(c, b));
        assertTrue(HandleProtocol.validate(c, b, s));
    }

    @Test
    void pinsCountUpAndDownWithoutFailingAnOptimisticRead() {
        long h = publish(1);
        long[] c = chunk(h);
        int b = HandleLayout.base(h);
        long begin = HandleProtocol.beginRead(c, b, h);
        HandleProtocol.pin(c, b, h);
        HandleProtocol.pin(c, b, h);
        assertEquals(2, HandleLayout.pinsOf(HandleTable.lvState(c, b)));
        assertTrue(HandleProtocol.validate(c, b, begin), "pins never fail a read");
        HandleProtocol.unpin(c, b);
        HandleProtocol.unpin(c, b);
        assertEquals(0, HandleLayout.pinsOf(HandleTable.lvState(c, b)));
    }

    @Test
    void aPinnedEntryCannotBeFreedNorFrozen() {
        long h = publish(1);
        long[] c = chunk(h);
        int b = HandleLayout.base(h);
        long s = HandleTable.lvState(c, b);
        HandleProtocol.pin(c, b, h);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> HandleProtocol.free(c, b, h));
        assertTrue(e.getMessage().contains("pinned (pins 1)"), e.getMessage());
        assertEquals(-1L, HandleProtocol.freeze(c, b, HandleLayout.genOfState(s), 8));
        HandleProtocol.unpin(c, b);
        assertNotEquals(-1L, HandleProtocol.freeze(c, b, HandleLayout.genOfState(s), 8));
    }

    @Test
    void freeAdvancesTheGenerationAndEveryLaterUseIsStale() {
        long h = publish(1);
        long[] c = chunk(h);
        int b = HandleLayout.base(h);
        long gen = HandleLayout.genOfHandle(h);
        HandleProtocol.free(c, b, h);
        long s = HandleTable.lvState(c, b);
        assertTrue((s & FREE) != 0);
        assertEquals((gen + 1) & HandleLayout.GEN_MASK, HandleLayout.genOfState(s));
        assertThrows(StaleHandleException.class, () -> HandleProtocol.free(c, b, h));
        assertThrows(StaleHandleException.class, () -> HandleProtocol.pin(c, b, h));
        assertThrows(StaleHandleException.class, () -> HandleProtocol.beginRead(c, b, h));
        assertEquals(-1L, HandleProtocol.freeze(c, b, gen, 8), "a FREE entry is never frozen");
    }

    @Test
    void aCompletedMoveFailsReadsThatBeganBeforeItAndMovesTheLocation() {
        long h = publish(HandleLayout.location(0, 8));
        long[] c = chunk(h);
        int b = HandleLayout.base(h);
        long before = HandleProtocol.beginRead(c, b, h);
        long frozen = HandleProtocol.freeze(c, b, HandleLayout.genOfHandle(h), 8);
        assertTrue((HandleTable.lvState(c, b) & MOVING) != 0);
        assertTrue(HandleProtocol.validate(c, b, before), "a frozen copy is still valid to read");
        HandleProtocol.publishMove(c, b, frozen, HandleLayout.location(1, 16));
        long after = HandleTable.lvState(c, b);
        assertEquals(0, after & (MOVING | FREE | PINS_MASK));
        assertFalse(HandleProtocol.validate(c, b, before), "the version moved on");
        assertEquals(HandleLayout.location(1, 16), HandleTable.lpLocation(c, b));
        assertTrue(HandleProtocol.validate(c, b, HandleProtocol.beginRead(c, b, h)));
    }

    @Test
    void anAbandonedMoveChangesNothing() {
        long h = publish(HandleLayout.location(0, 8));
        long[] c = chunk(h);
        int b = HandleLayout.base(h);
        long before = HandleProtocol.beginRead(c, b, h);
        long frozen = HandleProtocol.freeze(c, b, HandleLayout.genOfHandle(h), 8);
        HandleProtocol.unfreeze(c, b, frozen);
        assertEquals(before, HandleTable.lvState(c, b));
        assertTrue(HandleProtocol.validate(c, b, before));
    }

    @Test
    void aFreezeOfAnotherGenerationFails() {
        long h = publish(1);
        long[] c = chunk(h);
        int b = HandleLayout.base(h);
        assertEquals(-1L, HandleProtocol.freeze(c, b, HandleLayout.genOfHandle(h) + 1, 8));
    }

    @Test
    void aPinAndAFreeWaitForAMoveInFlight() throws Exception {
        long h = publish(HandleLayout.location(0, 8));
        long[] c = chunk(h);
        int b = HandleLayout.base(h);
        long frozen = HandleProtocol.freeze(c, b, HandleLayout.genOfHandle(h), 8);
        CountDownLatch started = new CountDownLatch(1);
        CompletableFuture<Long> pinner = CompletableFuture.supplyAsync(() -> {
            started.countDown();
            HandleProtocol.pin(c, b, h);
            return HandleTable.lpLocation(c, b);
        });
        started.await();
        Thread.sleep(50);
        assertFalse(pinner.isDone(), "a pin waits while MOVING is set");
        HandleProtocol.publishMove(c, b, frozen, HandleLayout.location(3, 24));
        assertEquals(HandleLayout.location(3, 24), pinner.get(5, TimeUnit.SECONDS),
                "the pin sees the new location");
        HandleProtocol.unpin(c, b);
        long frozen2 = HandleProtocol.freeze(c, b, HandleLayout.genOfHandle(h), 8);
        CompletableFuture<Void> freer = CompletableFuture.runAsync(() -> HandleProtocol.free(c, b, h));
        Thread.sleep(50);
        assertFalse(freer.isDone(), "a free waits while MOVING is set");
        HandleProtocol.publishMove(c, b, frozen2, HandleLayout.location(4, 0));
        freer.get(5, TimeUnit.SECONDS);
        assertTrue((HandleTable.lvState(c, b) & FREE) != 0);
    }

    @Test
    void thePinCountCannotOverflowIntoTheFlags() {
        long h = publish(1);
        long[] c = chunk(h);
        int b = HandleLayout.base(h);
        for (long i = 0; i < PINS_MASK; i++) {
            HandleProtocol.pin(c, b, h);
        }
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> HandleProtocol.pin(c, b, h));
        assertTrue(e.getMessage().contains(PINS_MASK + " pins"), e.getMessage());
        assertEquals(0, HandleTable.lvState(c, b) & (MOVING | FREE));
    }

    /**
     * A Pin's unpin ({@code unpinChecked}) of an entry that holds no pin (one Pin closed by two threads at once, each
     * seeing it open) used to borrow from the flags above the pin count (MOVING, FREE, the version) with assertions
     * off: it throws and leaves the word as it was, also when the entry is MOVING.
     */
    @Test
    void anUnpinWithoutAPinThrowsAndLeavesTheWordAsItWas() {
        long h = publish(1);
        long[] c = chunk(h);
        int b = HandleLayout.base(h);
        HandleProtocol.pin(c, b, h);
        HandleProtocol.unpin(c, b);
        long live = HandleTable.lvState(c, b);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> HandleProtocol.unpinChecked(c, b));
        assertTrue(e.getMessage().contains("no pin"), e.getMessage());
        assertEquals(live, HandleTable.lvState(c, b));

        long frozen = HandleProtocol.freeze(c, b, HandleLayout.genOfHandle(h), 1);
        assertNotEquals(-1L, frozen);
        long moving = HandleTable.lvState(c, b);
        assertThrows(IllegalStateException.class, () -> HandleProtocol.unpinChecked(c, b));
        assertEquals(moving, HandleTable.lvState(c, b), "MOVING kept");
        HandleProtocol.unfreeze(c, b, frozen);
        HandleProtocol.free(c, b, h); // not pinned: the free succeeds
        assertTrue((HandleTable.lvState(c, b) & FREE) != 0);
    }
}
