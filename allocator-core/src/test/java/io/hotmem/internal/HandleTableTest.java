package io.hotmem.internal;

import io.hotmem.StaleHandleException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static io.hotmem.internal.HandleLayout.*;
import static io.hotmem.internal.HandleTable.casState;
import static io.hotmem.internal.HandleTable.lpLocation;
import static io.hotmem.internal.HandleTable.lpSize;
import static io.hotmem.internal.HandleTable.lvState;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Bit layouts of the handle, state and location words ({@link HandleLayout}), round-tripped at every field boundary. */
class HandleTableTest {

    @Test
    void fieldsTileSixtyFourBits() {
        assertEquals(64, TAG_BITS + GEN_BITS + SLOT_BITS);
        assertEquals(64, GEN_BITS + VERSION_BITS + 2 + PIN_BITS);
        assertEquals(0, STATE_GEN_MASK & VERSION_MASK);
        assertEquals(0, (VERSION_MASK | STATE_GEN_MASK) & (FREE | MOVING | PINS_MASK));
        assertEquals(-1L, STATE_GEN_MASK | VERSION_MASK | FREE | MOVING | PINS_MASK);
    }

    @ParameterizedTest
    @ValueSource(longs = {0, 1, 2, (1L << 27) - 1, 1L << 27, (1L << 28) - 1})
    void handleRoundTripsEveryGeneration(long gen) {
        for (int slot : new int[]{0, 1, CHUNK_SLOTS - 1, CHUNK_SLOTS, MAX_SLOTS - 1}) {
            for (long tag : new long[]{1, 2, TAG_MASK}) {
                long h = handle(tag, gen, slot);
                assertNotEquals(0, h);
                assertEquals(slot, slotOf(h));
                assertEquals(gen, genOfHandle(h));
                assertEquals(tag, tagOf(h));
                assertEquals(slot & CHUNK_MASK, base(h) >>> ENTRY_SHIFT);
            }
        }
    }

    @Test
    void generationWrapsInsideItsField() {
        long last = GEN_MASK << STATE_GEN_SHIFT;
        long freed = freedState(last);
        assertEquals(0, genOfState(freed));
        assertTrue((freed & FREE) != 0);
        assertEquals(1, genOfState(freedState(0)));
    }

    @Test
    void pinsCountWithoutTouchingOtherFields() {
        long s = (5L << STATE_GEN_SHIFT) | (3 * VERSION_ONE);
        long pinned = s + PINS_MASK;
        assertEquals((int) PINS_MASK, pinsOf(pinned));
        assertEquals(5, genOfState(pinned));
        assertEquals(0, pinned & (MOVING | FREE));
        assertEquals(s & VALIDATE_MASK, pinned & VALIDATE_MASK, "pins never fail a validation");
        assertNotEquals(s & VALIDATE_MASK, (s + VERSION_ONE) & VALIDATE_MASK, "a move does");
    }

    @Test
    void locationRoundTrips() {
        for (int zone : new int[]{0, 1, 0xFFFF}) {
            for (long page : new long[]{0, 1, LOC_PAGE_MASK}) {
                long loc = location(zone, page);
                assertEquals(zone, zoneOfLocation(loc));
                assertEquals(page, pageOfLocation(loc));
            }
        }
    }

    @Test
    void publishedSlotGivesALiveHandleAndFreeingMakesItStale() {
        HandleTable t = new HandleTable();
        int slot = t.acquireSlot();
        long h = HandleProtocol.publish(t, slot, location(3, 17), 100, 1);
        long[] c = t.chunk(h);
        int b = base(h);
        long s = lvState(c, b);
        assertTrue(isLive(s, h));
        assertEquals(location(3, 17), lpLocation(c, b));
        assertEquals(100, lpSize(c, b));
        assertTrue(casState(c, b, s, freedState(s)));
        assertFalse(isLive(lvState(c, b), h));
        t.releaseSlot(slot);
        int again = t.acquireSlot();
        assertEquals(slot, again);
        long h2 = HandleProtocol.publish(t, again, location(3, 18), 8, 0);
        assertNotEquals(h, h2, "a reused slot gets a new generation");
        assertFalse(isLive(lvState(c, b), h));
    }

    @Test
    void foreignAndUnallocatedHandlesAreStale() {
        HandleTable a = new HandleTable();
        HandleTable b = new HandleTable();
        long h = HandleProtocol.publish(a, a.acquireSlot(), 0, 8, 0);
        assertThrows(StaleHandleException.class, () -> b.chunk(h));
        assertThrows(StaleHandleException.class, () -> a.chunk(0));
        assertThrows(StaleHandleException.class, () -> a.chunk(handle(a.tag, 0, MAX_SLOTS - 1)));
    }

    @Test
    void slotsOfTheFirstChunkAndOfLaterChunksResolveToTheirOwnEntries() {
        HandleTable t = new HandleTable();
        long[] handles = new long[2 * CHUNK_SLOTS];
        for (int k = 0; k < CHUNK_SLOTS + 2; k++) { // all of chunk 0, then slots CHUNK_SLOTS and CHUNK_SLOTS + 4
            int slot = t.acquireSlot();
            assertEquals(slotOfUse(k), slot);
            handles[slot] = HandleProtocol.publish(t, slot, location(1, slot), slot + 1, 0);
        }
        for (int i : new int[]{0, CHUNK_SLOTS - 1, CHUNK_SLOTS, CHUNK_SLOTS + 4}) {
            long h = handles[i];
            long[] c = t.chunk(h);
            assertEquals(i < CHUNK_SLOTS, c == t.chunk(handles[0]), "slot " + i + " is in chunk " + (i >>> CHUNK_SHIFT));
            assertTrue(isLive(lvState(c, base(h)), h));
            assertEquals(location(1, i), lpLocation(c, base(h)));
            assertEquals(i + 1, lpSize(c, base(h)));
            assertEquals(c, t.chunkOfSlot(i));
        }
        // A slot of a chunk that was never made: stale, not a NullPointerException.
        long unmade = handle(t.tag, 0, 2 * CHUNK_SLOTS);
        StaleHandleException e = assertThrows(StaleHandleException.class, () -> t.chunk(unmade));
        assertTrue(e.getMessage().contains("never allocated"), e.getMessage());
    }

    @Test
    void slotsTakenOneAfterTheOtherAreFourEntriesApartAndEverySlotOfAChunkIsTakenOnce() {
        for (int chunk : new int[]{0, 1, (MAX_SLOTS >>> CHUNK_SHIFT) - 1}) {
            boolean[] seen = new boolean[CHUNK_SLOTS];
            for (int k = chunk * CHUNK_SLOTS; k < (chunk + 1) * CHUNK_SLOTS; k++) {
                int slot = slotOfUse(k);
                assertEquals(chunk, slot >>> CHUNK_SHIFT, "use " + k + " stays in its chunk");
                assertFalse(seen[slot & CHUNK_MASK], "slot " + slot + " taken twice");
                seen[slot & CHUNK_MASK] = true;
                if ((k & CHUNK_MASK) != CHUNK_MASK) {
                    int next = slotOfUse(k + 1);
                    // Entries are 32 bytes: four apart leaves 96 bytes between them, more than a cache line.
                    assertTrue(Math.abs(next - slot) >= 4, "uses " + k + " and " + (k + 1) + ": slots " + slot
                            + " and " + next);
                }
            }
        }
    }
}
