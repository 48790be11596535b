// BulkMemory: address space for minisupctl's large, short-lived data (the
// bytes of a status reply of 10,000 processes, its table).
//
// On the VMs minisup runs on, the first write to each 4 KB page costs a
// page fault of ~10 us: filling 1.5 MB that way is ~4 ms, a quarter of a
// whole `minisupctl status` of 10,000 processes. A BulkMemory region is
// reserved at once (nothing is touched until written) at a 2 MB boundary
// and asks for transparent huge pages (madvise(MADV_HUGEPAGE)), so that
// where the kernel allows them (`enabled` = always or madvise, the usual
// default) a 2 MB page costs one fault (~0.1 ms). Where it does not, the
// region works the same with 4 KB pages.
//
// Only for minisupctl's one-shot buffers: a long-lived process would keep
// whole huge pages resident for a few bytes.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <type_traits>
#include <utility>

namespace minisup::ctl {

class BulkMemory {
 public:
  BulkMemory() noexcept = default;
  /// Reserves at least `bytes` (rounded up to whole 2 MB pages). Throws
  /// std::bad_alloc when the address space cannot be had.
  explicit BulkMemory(std::size_t bytes);
  ~BulkMemory();
  BulkMemory(BulkMemory&& other) noexcept
      : map_(std::exchange(other.map_, nullptr)),
        map_bytes_(std::exchange(other.map_bytes_, 0)),
        data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)) {}
  BulkMemory& operator=(BulkMemory&& other) noexcept {
    std::swap(map_, other.map_);
    std::swap(map_bytes_, other.map_bytes_);
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    return *this;
  }
  BulkMemory(const BulkMemory&) = delete;
  BulkMemory& operator=(const BulkMemory&) = delete;

  /// The usable bytes (nullptr and 0 for an empty BulkMemory); zero until
  /// written.
  char* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }

  static constexpr std::size_t kHugePage = std::size_t{2} << 20;

 private:
  void* map_ = nullptr;
  std::size_t map_bytes_ = 0;
  char* data_ = nullptr;
  std::size_t size_ = 0;
};

/// A growing array of trivially copyable T: its first kSmallBytes on the
/// heap (a small table stays off huge pages), then in BulkMemory, moved
/// (memcpy) into a region four times as large each time it is full.
template <typename T>
class BulkArray {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>);

 public:
  static constexpr std::size_t kSmallBytes = 32 * 1024;

  BulkArray() = default;
  BulkArray(BulkArray&& other) noexcept
      : small_(std::move(other.small_)),
        bulk_(std::move(other.bulk_)),
        data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)),
        capacity_(std::exchange(other.capacity_, 0)) {}
  BulkArray& operator=(BulkArray&& other) noexcept {
    BulkArray moved(std::move(other));
    std::swap(small_, moved.small_);
    std::swap(bulk_, moved.bulk_);
    std::swap(data_, moved.data_);
    std::swap(size_, moved.size_);
    std::swap(capacity_, moved.capacity_);
    return *this;
  }
  BulkArray(const BulkArray&) = delete;
  BulkArray& operator=(const BulkArray&) = delete;

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  const T* begin() const noexcept { return data_; }
  const T* end() const noexcept { return data_ + size_; }
  const T& operator[](std::size_t i) const noexcept { return data_[i]; }
  const T& back() const noexcept { return data_[size_ - 1]; }

  void push_back(const T& item) {
    if (size_ == capacity_) grow();
    std::memcpy(static_cast<void*>(data_ + size_), &item, sizeof(T));
    ++size_;
  }
  void clear() noexcept { size_ = 0; }

 private:
  void grow() {
    if (capacity_ == 0) {
      capacity_ = kSmallBytes / sizeof(T);
      small_ = std::make_unique<T[]>(capacity_);
      data_ = small_.get();
      return;
    }
    BulkMemory bigger(std::max(BulkMemory::kHugePage, bulk_.size() * 4));
    std::memcpy(static_cast<void*>(bigger.data()), data_, size_ * sizeof(T));
    bulk_ = std::move(bigger);
    small_.reset();
    data_ = reinterpret_cast<T*>(bulk_.data());
    capacity_ = bulk_.size() / sizeof(T);
  }

  std::unique_ptr<T[]> small_;
  BulkMemory bulk_;
  T* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace minisup::ctl
