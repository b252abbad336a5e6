package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.MemoryBacking;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import org.junit.jupiter.api.condition.EnabledOnOs;
import org.junit.jupiter.api.condition.OS;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Every block starts on a page boundary of the allocator's page size, with every backing and page size. */
class BackingAlignmentTest {

    @ParameterizedTest(name = "{0}, {1}-byte pages")
    @EnabledOnOs(OS.LINUX)
    @CsvSource({"MMAP, 4096", "MMAP, 16384", "MMAP, 65536", "ARENA, 4096", "ARENA, 65536", "AUTO, 65536"})
    void blocksAreAlignedToThePageSize(MemoryBacking backing, int pageSize) {
        try (PageAllocator a = PageAllocator.builder().backing(backing).pageSize(pageSize).maxOrder(4)
                .node(NodeSpec.fixed(64L * pageSize)).node(NodeSpec.hotRemovable(64L * pageSize))
                .backgroundThread(false).build()) {
            SplittableRandom r = new SplittableRandom(7);
            List<Long> handles = new ArrayList<>();
            for (int i = 0; i < 40; i++) {
                long bytes = 1 + r.nextLong((long) pageSize << 2);
                int flags = r.nextBoolean() ? AllocFlags.HOTREMOVABLE : AllocFlags.NONE;
                long h = a.tryAllocate(bytes, flags, r.nextInt(2));
                if (h == PageAllocator.NULL_HANDLE) {
                    continue;
                }
                handles.add(h);
                try (Pin pin = a.pin(h)) {
                    assertEquals(0, pin.segment().address() % pageSize, "block of " + bytes + " bytes at 0x"
                            + Long.toHexString(pin.segment().address()));
                }
            }
            assertEquals(true, handles.size() > 20, "most allocations fit: " + handles.size());
            handles.forEach(a::free);
        }
    }
}
