#include "scorekit/text/dedup.hpp"

#include <algorithm>
#include <cstring>

#include "scorekit/text/unicode.hpp"
#include "sha1.hpp"

namespace scorekit::text {

std::uint64_t sha1_prefix64(std::string_view bytes) {
    thread_local PaddedMessages message;
    message.clear();
    char* out = message.room(bytes.size());
    if (!bytes.empty()) std::memcpy(out, bytes.data(), bytes.size());
    message.add(bytes.size());
    thread_local std::vector<std::uint64_t> hash;
    hash.clear();
    message.hash(0, 1, hash);
    return hash[0];
}

std::uint64_t line_hash(std::string_view line, std::string& scratch) {
    normalize_for_dedup(line, scratch);
    return sha1_prefix64(scratch);
}

void hash_lines(std::string_view text, std::vector<std::uint64_t>& hashes) {
    // All lines are normalised first and then hashed together, several at a time.
    thread_local PaddedMessages lines;
    lines.clear();
    hashes.clear();
    std::size_t start = 0;
    while (true) {
        std::size_t end = text.find('\n', start);
        std::string_view line = text.substr(start, end == std::string_view::npos ? end : end - start);
        char* out = lines.room(2 * line.size());
        lines.add(normalize_for_dedup_into(line, out));
        if (end == std::string_view::npos) break;
        start = end + 1;
    }
    lines.hash(0, lines.count(), hashes);
}

void DedupHashSet::reserve(std::size_t count) {
    std::size_t wanted = static_cast<std::size_t>(static_cast<double>(count) / 0.8) + 64;
    if (wanted > capacity_) rehash(wanted);
}

std::size_t DedupHashSet::find_slot(std::uint64_t hash) const {
    std::size_t slot = slot_of(hash);
    while (keys_[slot] != 0 && keys_[slot] != hash) {
        if (++slot == capacity_) slot = 0;
    }
    return slot;
}

void DedupHashSet::rehash(std::size_t new_capacity) {
    std::vector<std::uint64_t> old_keys = std::move(keys_);
    std::vector<std::uint64_t> old_flags = std::move(flags_);
    std::size_t old_capacity = capacity_;

    capacity_ = new_capacity;
    keys_.assign(capacity_, 0);
    flags_.assign((capacity_ + 63) / 64, 0);
    for (std::size_t i = 0; i < old_capacity; ++i) {
        if (old_keys[i] == 0) continue;
        std::size_t slot = find_slot(old_keys[i]);
        keys_[slot] = old_keys[i];
        if ((old_flags[i >> 6] >> (i & 63)) & 1) set_flag(slot);
    }
}

std::size_t DedupHashSet::insert(std::uint64_t hash, bool& inserted) {
    if ((size_ + 1) * 5 > capacity_ * 4) rehash(std::max<std::size_t>(1024, capacity_ * 2));
    std::size_t slot = find_slot(hash);
    inserted = keys_[slot] == 0;
    if (inserted) {
        keys_[slot] = hash;
        ++size_;
    }
    return slot;
}

void DedupHashSet::add_document(const std::uint64_t* hashes, std::size_t count) {
    // cc_net computes "contains" for the whole document before inserting any of its hashes, so
    // a line repeated inside one document does not flag itself. The first pass keeps the slot
    // that each lookup ended on, so that the second pass probes again only when that slot has
    // been taken since or the table has grown.
    thread_local std::vector<char> present;
    thread_local std::vector<std::size_t> slots;
    present.resize(count);
    slots.resize(count);
    constexpr std::size_t kAhead = 8;
    for (std::size_t i = 0; i < count; ++i) {
        if (i + kAhead < count) prefetch(hashes[i + kAhead]);
        if (hashes[i] == 0 || capacity_ == 0) {
            present[i] = contains(hashes[i]);
            slots[i] = kNoSlot;
            continue;
        }
        slots[i] = find_slot(hashes[i]);
        present[i] = keys_[slots[i]] == hashes[i];
    }
    for (std::size_t i = 0; i < count; ++i) {
        std::uint64_t hash = hashes[i];
        if (hash == 0) {
            if (!has_zero_) ++size_;
            has_zero_ = true;
            zero_flag_ = zero_flag_ || present[i];
            continue;
        }
        // Growth is checked before every key, as insert() does, so that the table grows at the
        // same point as with one insert() per line. Growing makes every kept slot stale.
        if ((size_ + 1) * 5 > capacity_ * 4) {
            rehash(std::max<std::size_t>(1024, capacity_ * 2));
            std::fill(slots.begin() + static_cast<std::ptrdiff_t>(i), slots.end(), kNoSlot);
        }
        std::size_t slot = slots[i];
        // A kept slot held the key, or was the first empty slot of its probe sequence. Keys are
        // never removed, so it still is unless a key of this document has taken it since.
        if (slot == kNoSlot || (keys_[slot] != hash && keys_[slot] != 0)) {
            bool inserted = false;
            slot = insert(hash, inserted);
        } else if (keys_[slot] == 0) {
            keys_[slot] = hash;
            ++size_;
        }
        if (present[i]) set_flag(slot);
    }
}

void DedupHashSet::merge(std::uint64_t hash, bool flag) {
    if (hash == 0) {
        zero_flag_ = has_zero_ || flag || zero_flag_;
        if (!has_zero_) ++size_;
        has_zero_ = true;
        return;
    }
    bool inserted = false;
    std::size_t slot = insert(hash, inserted);
    if (!inserted || flag) set_flag(slot);
}

bool DedupHashSet::contains(std::uint64_t hash) const {
    if (hash == 0) return has_zero_;
    if (capacity_ == 0) return false;
    return keys_[find_slot(hash)] == hash;
}

bool DedupHashSet::is_duplicate(std::uint64_t hash) const {
    if (hash == 0) return has_zero_ && zero_flag_;
    if (capacity_ == 0) return false;
    std::size_t slot = find_slot(hash);
    return keys_[slot] == hash && flag_at(slot);
}

std::size_t DedupHashSet::memory_bytes() const {
    return keys_.capacity() * sizeof(std::uint64_t) + flags_.capacity() * sizeof(std::uint64_t);
}

void DedupHashSet::sorted_entries(std::vector<std::uint64_t>& hashes, std::vector<bool>& flags) const {
    hashes.clear();
    flags.clear();
    hashes.reserve(size_);
    if (has_zero_) hashes.push_back(0);
    for (std::size_t i = 0; i < capacity_; ++i) {
        if (keys_[i] != 0) hashes.push_back(keys_[i]);
    }
    std::sort(hashes.begin(), hashes.end());
    flags.resize(hashes.size());
    for (std::size_t i = 0; i < hashes.size(); ++i) flags[i] = is_duplicate(hashes[i]);
}

}  // namespace scorekit::text
