package io.hotmem.internal;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Tags are unique among open tables, every one of the 4,095 can be had, and one more is refused. */
class HandleTagsTest {

    @Test
    void openTablesNeverShareATagAndTheLimitIsEnforced() {
        List<HandleTags.Lease> leases = new ArrayList<>();
        try {
            int free = HandleTags.MAX_LIVE - HandleTags.liveCount();
            for (int i = 0; i < free; i++) {
                leases.add(HandleTags.acquire());
            }
            Set<Long> tags = new HashSet<>();
            for (HandleTags.Lease l : leases) {
                assertTrue(l.tag() >= 1 && l.tag() <= HandleLayout.TAG_MASK, "tag " + l.tag());
                assertTrue(tags.add(l.tag()), "tag " + l.tag() + " leased twice");
            }
            IllegalStateException e = assertThrows(IllegalStateException.class, HandleTags::acquire);
            assertTrue(e.getMessage().contains("4095 allocators are open"), e.getMessage());
            HandleTags.Lease freed = leases.remove(leases.size() / 2);
            HandleTags.release(freed.tag());
            HandleTags.Lease again = HandleTags.acquire();
            leases.add(again);
            assertEquals(freed.tag(), again.tag(), "the only free tag");
            assertNotEquals(freed.firstGeneration(), again.firstGeneration(),
                    "a reused tag starts its slots at another generation");
        } finally {
            for (HandleTags.Lease l : leases) {
                HandleTags.release(l.tag());
            }
        }
    }

    @Test
    void aReleasedTagIsReusedAsLateAsPossible() {
        HandleTags.Lease a = HandleTags.acquire();
        HandleTags.release(a.tag());
        HandleTags.Lease b = HandleTags.acquire();
        HandleTags.release(b.tag());
        assertNotEquals(a.tag(), b.tag(), "round-robin: the next free tag, not the one just released");
    }
}
