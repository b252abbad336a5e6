package io.hotmem.tests;

import io.hotmem.PageAllocator;
import org.junit.jupiter.api.Test;

import java.lang.module.ModuleDescriptor;
import java.lang.module.ModuleFinder;
import java.lang.module.ModuleReference;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.Set;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The library is the JPMS module io.hotmem and exports only its API package. */
class ModuleDescriptorTest {
    @Test
    void exportsOnlyTheApiPackage() throws URISyntaxException {
        Path location = Path.of(PageAllocator.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        ModuleReference ref = ModuleFinder.of(location).find("io.hotmem")
                .orElseThrow(() -> new AssertionError("no module io.hotmem at " + location));
        ModuleDescriptor d = ref.descriptor();
        Set<String> exports = d.exports().stream().map(ModuleDescriptor.Exports::source).collect(Collectors.toSet());
        assertEquals(Set.of("io.hotmem"), exports);
        assertTrue(d.packages().contains("io.hotmem.internal"), d.packages().toString());
        assertEquals(Set.of("java.base", "jdk.jfr", "java.management", "org.agrona"),
                d.requires().stream().map(ModuleDescriptor.Requires::name).collect(Collectors.toSet()),
                "nothing beyond the JDK");
    }
}
