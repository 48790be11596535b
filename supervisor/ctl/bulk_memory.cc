// BulkMemory (see bulk_memory.h).
#include "supervisor/ctl/bulk_memory.h"

#include <sys/mman.h>

#include <cstdint>
#include <new>

namespace minisup::ctl {

BulkMemory::BulkMemory(std::size_t bytes) {
  const std::size_t size =
      (std::max<std::size_t>(bytes, 1) + kHugePage - 1) / kHugePage * kHugePage;
  // One huge page more than asked for, so that the usable part can start
  // at a 2 MB boundary (a huge page is only used for an aligned 2 MB).
  const std::size_t map_bytes = size + kHugePage;
  void* map = ::mmap(nullptr, map_bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (map == MAP_FAILED) throw std::bad_alloc();
  const auto at = reinterpret_cast<std::uintptr_t>(map);
  char* data = reinterpret_cast<char*>((at + kHugePage - 1) / kHugePage * kHugePage);
  // Only a wish: EINVAL where the kernel has no transparent huge pages,
  // and the region then works with small pages.
  (void)::madvise(data, size, MADV_HUGEPAGE);
  map_ = map;
  map_bytes_ = map_bytes;
  data_ = data;
  size_ = size;
}

BulkMemory::~BulkMemory() {
  if (map_ != nullptr) ::munmap(map_, map_bytes_);
}

}  // namespace minisup::ctl
