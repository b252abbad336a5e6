package io.hotmem.internal;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Review of 8fe36eb: CHUNK_SHIFT went from 12 to 14 and the first chunk was made by the table's constructor, while the
 * README's "Metadata footprint" still said "in chunks of 4096 entries (128 KiB) that are allocated on demand". The
 * fix made every chunk on demand again (8,192 slots, 256 KiB: never a humongous object); the README must say what
 * the code does.
 */
class HandleTableDocsReviewDefectTest {

    private static String readme() throws Exception {
        Path p = Path.of("README.md");
        if (!Files.exists(p)) {
            p = Path.of("..", "README.md"); // surefire runs in the module's directory
        }
        return Files.readString(p).replaceAll("\\s+", " ");
    }

    @Test
    void theReadmesFootprintStatesTheTablesChunkSizeAndThatChunksAreMadeOnDemand() throws Exception {
        String text = readme();
        Matcher m = Pattern.compile("handle-table entry, in chunks of ([0-9,]+) entries \\(([0-9]+) KiB\\)([^.]*)")
                .matcher(text);
        assertTrue(m.find(), "the README's Metadata footprint names the handle table's chunk size");
        int slots = Integer.parseInt(m.group(1).replace(",", ""));
        int kib = Integer.parseInt(m.group(2));
        assertEquals(HandleLayout.CHUNK_SLOTS, slots, "README: chunks of " + m.group(1) + " entries");
        assertEquals((HandleLayout.CHUNK_SLOTS << HandleLayout.ENTRY_SHIFT) * Long.BYTES / 1024, kib,
                "README: chunk of " + kib + " KiB");
        assertTrue(m.group(3).contains("allocated on demand"), "README: " + m.group(0));
        HandleTable t = new HandleTable();
        assertNull(t.chunkOfSlot(0), "a table that has handed out no slot holds no chunk");
        t.acquireSlot();
        assertEquals(HandleLayout.CHUNK_SLOTS << HandleLayout.ENTRY_SHIFT, t.chunkOfSlot(0).length);
        t.releaseTag();
    }
}
