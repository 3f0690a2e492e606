#include "torchscript_archive.hpp"

#include "scorekit/error.hpp"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <stdexcept>

namespace scorekit {
namespace {

// The reason an archive cannot be read here, caught inside this file and returned as the rejection.
struct Unreadable : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::uint64_t little_endian(const unsigned char* bytes, int count) {
    std::uint64_t value = 0;
    for (int i = count - 1; i >= 0; --i) value = value << 8 | bytes[i];
    return value;
}

// "module.Class" for a GLOBAL's "module Class", for messages.
std::string dotted(std::string qualified) {
    std::replace(qualified.begin(), qualified.end(), ' ', '.');
    return qualified;
}

// ---- zip archive ---------------------------------------------------------------------------
// APPNOTE.TXT (PKWARE) 4.3: end of central directory, its zip64 form, central directory headers
// and local file headers. PyTorch writes zip64 records and stores data.pkl and the tensor
// storages uncompressed; compression method 8 (deflate) is read too.

struct ZipEntry {
    std::uint64_t local_header = 0, compressed = 0, size = 0;
    std::uint32_t crc = 0;  // CRC-32 of the uncompressed bytes
    int method = 0;
};

class ZipArchive {
public:
    explicit ZipArchive(const std::string& path) : file_(path, std::ios::binary) {
        if (!file_) throw Unreadable("cannot open the file");
        file_.seekg(0, std::ios::end);
        file_size_ = static_cast<std::uint64_t>(file_.tellg());
        read_central_directory();
    }

    const std::map<std::string, ZipEntry>& entries() const { return entries_; }

    std::string read(const std::string& name) {
        auto found = entries_.find(name);
        if (found == entries_.end()) throw Unreadable("the archive has no entry " + name);
        const ZipEntry& entry = found->second;
        unsigned char header[30];
        read_at(entry.local_header, header, sizeof header);
        if (little_endian(header, 4) != 0x04034b50) throw Unreadable("invalid local header of " + name);
        const std::uint64_t data = entry.local_header + 30 + little_endian(header + 26, 2) + little_endian(header + 28, 2);
        // Deflate compresses at most about 1032:1, so a larger stated size marks a corrupt entry.
        if (entry.compressed > file_size_ || entry.size > 1032 * entry.compressed + 64) {
            throw Unreadable("entry " + name + " states an impossible size");
        }
        std::string stored(entry.compressed, '\0');
        read_at(data, stored.data(), stored.size());
        if (entry.method == 8) {
            stored = inflate_raw(stored, entry.size, name);
        } else if (entry.method != 0) {
            throw Unreadable("entry " + name + " uses compression method " + std::to_string(entry.method));
        }
        // The CRC catches a misread entry before its bytes become weights. A damaged file then goes
        // to LibTorch, whose reader (1.13) loads it without this check.
        const auto crc = crc32(0L, reinterpret_cast<const Bytef*>(stored.data()), static_cast<uInt>(stored.size()));
        if (crc != entry.crc) throw Unreadable("entry " + name + " fails its CRC-32 check (a damaged file?)");
        return stored;
    }

private:
    void read_at(std::uint64_t offset, void* target, std::uint64_t count) {
        if (offset > file_size_ || count > file_size_ - offset) throw Unreadable("the zip archive is truncated");
        file_.seekg(static_cast<std::streamoff>(offset));
        file_.read(static_cast<char*>(target), static_cast<std::streamsize>(count));
        if (!file_) throw Unreadable("cannot read the file");
    }

    void read_central_directory() {
        // The end record (22 bytes) follows the directory, before a comment of at most 65535 bytes.
        const std::uint64_t tail = std::min<std::uint64_t>(file_size_, 22 + 65535);
        std::string end(tail, '\0');
        read_at(file_size_ - tail, end.data(), tail);
        std::size_t at = std::string::npos;
        for (std::size_t i = tail >= 22 ? tail - 22 + 1 : 0; i-- > 0;) {
            if (little_endian(reinterpret_cast<const unsigned char*>(end.data() + i), 4) == 0x06054b50) {
                at = i;
                break;
            }
        }
        if (at == std::string::npos) throw Unreadable("no zip end of central directory record (a truncated file?)");
        const auto* record = reinterpret_cast<const unsigned char*>(end.data() + at);
        std::uint64_t count = little_endian(record + 10, 2), size = little_endian(record + 12, 4);
        std::uint64_t offset = little_endian(record + 16, 4);
        if (count == 0xffff || size == 0xffffffff || offset == 0xffffffff) {
            read_zip64_end(file_size_ - tail + at, count, size, offset);
        }
        if (size > file_size_) throw Unreadable("the zip central directory is truncated");
        std::string directory(size, '\0');
        read_at(offset, directory.data(), size);
        std::size_t position = 0;
        for (std::uint64_t i = 0; i < count; ++i) position = read_directory_entry(directory, position);
    }

    void read_zip64_end(std::uint64_t end_offset, std::uint64_t& count, std::uint64_t& size, std::uint64_t& offset) {
        if (end_offset < 20) throw Unreadable("no zip64 end of central directory locator");
        unsigned char locator[20];
        read_at(end_offset - 20, locator, sizeof locator);
        if (little_endian(locator, 4) != 0x07064b50) throw Unreadable("no zip64 end of central directory locator");
        unsigned char record[56];
        read_at(little_endian(locator + 8, 8), record, sizeof record);
        if (little_endian(record, 4) != 0x06064b50) throw Unreadable("invalid zip64 end of central directory record");
        count = little_endian(record + 32, 8);
        size = little_endian(record + 40, 8);
        offset = little_endian(record + 48, 8);
    }

    std::size_t read_directory_entry(const std::string& directory, std::size_t position) {
        if (position + 46 > directory.size()) throw Unreadable("the zip central directory is truncated");
        const auto* header = reinterpret_cast<const unsigned char*>(directory.data() + position);
        if (little_endian(header, 4) != 0x02014b50) throw Unreadable("invalid zip central directory header");
        const std::size_t name_length = little_endian(header + 28, 2), extra_length = little_endian(header + 30, 2);
        const std::size_t comment_length = little_endian(header + 32, 2);
        if (position + 46 + name_length + extra_length + comment_length > directory.size()) {
            throw Unreadable("the zip central directory is truncated");
        }
        ZipEntry entry;
        entry.method = static_cast<int>(little_endian(header + 10, 2));
        entry.crc = static_cast<std::uint32_t>(little_endian(header + 16, 4));
        entry.compressed = little_endian(header + 20, 4);
        entry.size = little_endian(header + 24, 4);
        entry.local_header = little_endian(header + 42, 4);
        if (little_endian(header + 8, 2) & 1) throw Unreadable("the zip archive is encrypted");
        read_zip64_sizes(header + 46 + name_length, extra_length, entry);
        entries_[std::string(directory.data() + position + 46, name_length)] = entry;
        return position + 46 + name_length + extra_length + comment_length;
    }

    // The zip64 extra field (id 1) holds, in this order, those of size, compressed size and local
    // header offset whose 32-bit fields are 0xffffffff.
    static void read_zip64_sizes(const unsigned char* extra, std::size_t length, ZipEntry& entry) {
        for (std::size_t at = 0; at + 4 <= length;) {
            const std::size_t id = little_endian(extra + at, 2), size = little_endian(extra + at + 2, 2);
            if (at + 4 + size > length) break;
            if (id == 1) {
                const unsigned char* field = extra + at + 4;
                std::size_t used = 0;
                for (std::uint64_t* value : {&entry.size, &entry.compressed, &entry.local_header}) {
                    if (*value != 0xffffffff || used + 8 > size) continue;
                    *value = little_endian(field + used, 8);
                    used += 8;
                }
            }
            at += 4 + size;
        }
    }

    // Inflates into a buffer that grows with the output, so that an entry whose stated size is
    // a lie costs only the bytes that it really inflates to.
    static std::string inflate_raw(const std::string& compressed, std::uint64_t size, const std::string& name) {
        std::string result(std::min<std::uint64_t>(size, 8 * compressed.size() + 65536), '\0');
        z_stream stream{};
        if (inflateInit2(&stream, -MAX_WBITS) != Z_OK) throw Unreadable("zlib failed to start");
        stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
        stream.avail_in = static_cast<uInt>(compressed.size());
        int status = Z_OK;
        while (status == Z_OK) {
            if (stream.total_out == result.size()) {
                if (result.size() == size) break;  // full, but the stream goes on
                result.resize(std::min<std::uint64_t>(size, 2 * result.size()));
            }
            stream.next_out = reinterpret_cast<Bytef*>(result.data() + stream.total_out);
            stream.avail_out = static_cast<uInt>(std::min<std::uint64_t>(result.size() - stream.total_out, 1u << 30));
            status = inflate(&stream, Z_NO_FLUSH);
        }
        inflateEnd(&stream);
        if (status != Z_STREAM_END || stream.total_out != size) throw Unreadable("cannot inflate entry " + name);
        return result;
    }

    std::ifstream file_;
    std::uint64_t file_size_ = 0;
    std::map<std::string, ZipEntry> entries_;
};

// ---- pickle ----------------------------------------------------------------------------------
// The subset of the pickle protocol (Python's Lib/pickletools.py documents each opcode) that
// torch.jit.save uses for data.pkl, with the torch globals that rebuild tensors.

struct Value;
// Values live in the Unpickler's arena, so that a deeply nested or self-referencing pickle
// (a list appended to itself) is freed without recursion and without leaking a cycle.
using ValuePointer = Value*;

struct StorageReference {
    std::string key, dtype;  // dtype: "float32", "float64", "float16" or "bfloat16"
    std::int64_t numel = 0;
};

struct Value {
    enum class Type { none, boolean, integer, floating, string, tuple, list, dict, global, object, storage, tensor, mark };
    Type type = Type::none;
    bool boolean = false;
    std::int64_t integer = 0;
    double floating = 0;
    std::string text;                                     // string; global: "module name"
    std::vector<ValuePointer> items;                      // tuple, list
    std::vector<std::pair<ValuePointer, ValuePointer>> entries;  // dict, object state (in order)
    StorageReference storage;                             // storage; tensor: its storage
    std::int64_t offset = 0;                              // tensor: storage offset
    std::vector<std::int64_t> shape, strides;             // tensor
};

class Unpickler {
public:
    explicit Unpickler(const std::string& data) : data_(data) {}

    // The values that load() returns point into this object, which must outlive them.
    Unpickler(const Unpickler&) = delete;
    Unpickler& operator=(const Unpickler&) = delete;

    ValuePointer load() {
        while (true) {
            const unsigned char opcode = byte();
            if (opcode == '.') break;  // STOP
            step(opcode);
        }
        if (stack_.size() != 1) throw Unreadable("data.pkl ends with " + std::to_string(stack_.size()) + " values");
        return stack_.back();
    }

private:
    void step(unsigned char opcode) {
        switch (opcode) {
            case 0x80: if (byte() > 2) throw Unreadable("data.pkl uses a pickle protocol above 2"); return;  // PROTO
            case '(': stack_.push_back(make(Value::Type::mark)); return;                                     // MARK
            case 'N': stack_.push_back(make(Value::Type::none)); return;                                     // NONE
            case 0x88: case 0x89: {                                                                          // NEWTRUE, NEWFALSE
                auto value = make(Value::Type::boolean);
                value->boolean = opcode == 0x88;
                stack_.push_back(value);
                return;
            }
            case 'K': push_integer(static_cast<std::int64_t>(little_endian(bytes(1), 1))); return;           // BININT1
            case 'M': push_integer(static_cast<std::int64_t>(little_endian(bytes(2), 2))); return;           // BININT2
            case 'J': push_integer(static_cast<std::int32_t>(little_endian(bytes(4), 4))); return;           // BININT
            case 0x8a: push_long(); return;                                                                  // LONG1
            case 'G': push_float(); return;                                                                  // BINFLOAT
            case 'X': push_string(little_endian(bytes(4), 4)); return;                                       // BINUNICODE
            case 'T': push_string(little_endian(bytes(4), 4)); return;                                       // BINSTRING
            case 'U': push_string(little_endian(bytes(1), 1)); return;                                       // SHORT_BINSTRING
            case 'c': push_global(); return;                                                                 // GLOBAL
            case ')': stack_.push_back(make(Value::Type::tuple)); return;                                    // EMPTY_TUPLE
            case 0x85: case 0x86: case 0x87: push_small_tuple(opcode - 0x84); return;                        // TUPLE1-3
            case 't': push_marked(Value::Type::tuple); return;                                               // TUPLE
            case ']': stack_.push_back(make(Value::Type::list)); return;                                     // EMPTY_LIST
            case 'l': push_marked(Value::Type::list); return;                                                // LIST
            case 'a': append(1); return;                                                                     // APPEND
            case 'e': append(0); return;                                                                     // APPENDS
            case '}': stack_.push_back(make(Value::Type::dict)); return;                                     // EMPTY_DICT
            case 's': set_items(true); return;                                                               // SETITEM
            case 'u': set_items(false); return;                                                              // SETITEMS
            case 'q': memo_[little_endian(bytes(1), 1)] = top(); return;                                     // BINPUT
            case 'r': memo_[little_endian(bytes(4), 4)] = top(); return;                                     // LONG_BINPUT
            case 'h': push_memo(little_endian(bytes(1), 1)); return;                                         // BINGET
            case 'j': push_memo(little_endian(bytes(4), 4)); return;                                         // LONG_BINGET
            case 0x81: new_object(); return;                                                                 // NEWOBJ
            case 'b': build(); return;                                                                       // BUILD
            case 'R': reduce(); return;                                                                      // REDUCE
            case 'Q': persistent_id(); return;                                                               // BINPERSID
            default: break;
        }
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", opcode);
        throw Unreadable(std::string("data.pkl uses the pickle opcode ") + hex + ", which this reader does not implement");
    }

    unsigned char byte() { return *bytes(1); }

    // A new value in the arena. Each opcode makes at most one, but a Value takes a few hundred bytes, so
    // the count is bounded to keep a large data.pkl of one-byte opcodes from taking hundreds of times its
    // size. A Sequential's data.pkl needs a few dozen values per layer.
    ValuePointer make(Value::Type type) {
        constexpr std::size_t max_values = 1'000'000;
        if (values_.size() >= max_values) {
            throw Unreadable("data.pkl has more than " + std::to_string(max_values) + " values");
        }
        values_.emplace_back();
        values_.back().type = type;
        return &values_.back();
    }

    const unsigned char* bytes(std::size_t count) {
        if (position_ + count > data_.size()) throw Unreadable("data.pkl is truncated");
        const auto* start = reinterpret_cast<const unsigned char*>(data_.data() + position_);
        position_ += count;
        return start;
    }

    ValuePointer pop() {
        if (stack_.empty()) throw Unreadable("data.pkl pops an empty stack");
        ValuePointer value = stack_.back();
        stack_.pop_back();
        return value;
    }

    ValuePointer top() {
        if (stack_.empty()) throw Unreadable("data.pkl memoises an empty stack");
        return stack_.back();
    }

    // The values above the topmost MARK, which is removed. They are collected in reverse and
    // reversed once, because inserting each at the front takes quadratic time on long runs.
    std::vector<ValuePointer> pop_marked() {
        std::vector<ValuePointer> values;
        while (true) {
            ValuePointer value = pop();
            if (value->type == Value::Type::mark) break;
            values.push_back(value);
        }
        std::reverse(values.begin(), values.end());
        return values;
    }

    void push_integer(std::int64_t value) {
        auto pointer = make(Value::Type::integer);
        pointer->integer = value;
        stack_.push_back(pointer);
    }

    void push_long() {
        const std::size_t count = byte();
        if (count > 8) throw Unreadable("data.pkl has an integer wider than 64 bits");
        const unsigned char* digits = bytes(count);
        std::uint64_t value = little_endian(digits, static_cast<int>(count));
        if (count > 0 && count < 8 && (digits[count - 1] & 0x80)) value |= ~std::uint64_t(0) << (8 * count);
        push_integer(static_cast<std::int64_t>(value));
    }

    void push_float() {
        const unsigned char* big_endian = bytes(8);
        std::uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = bits << 8 | big_endian[i];
        auto value = make(Value::Type::floating);
        std::memcpy(&value->floating, &bits, sizeof bits);
        stack_.push_back(value);
    }

    void push_string(std::size_t length) {
        auto value = make(Value::Type::string);
        value->text.assign(reinterpret_cast<const char*>(bytes(length)), length);
        stack_.push_back(value);
    }

    std::string line() {
        const std::size_t end = data_.find('\n', position_);
        if (end == std::string::npos) throw Unreadable("data.pkl is truncated");
        std::string text = data_.substr(position_, end - position_);
        position_ = end + 1;
        return text;
    }

    void push_global() {
        auto value = make(Value::Type::global);
        value->text = line();
        value->text += " " + line();
        stack_.push_back(value);
    }

    void push_small_tuple(int count) {
        auto tuple = make(Value::Type::tuple);
        tuple->items.resize(count);
        for (int i = count - 1; i >= 0; --i) tuple->items[i] = pop();
        stack_.push_back(tuple);
    }

    void push_marked(Value::Type type) {
        auto value = make(type);
        value->items = pop_marked();
        stack_.push_back(value);
    }

    void append(int count) {
        std::vector<ValuePointer> values = count == 1 ? std::vector<ValuePointer>{pop()} : pop_marked();
        ValuePointer list = top();
        if (list->type != Value::Type::list) throw Unreadable("data.pkl appends to a value that is not a list");
        list->items.insert(list->items.end(), values.begin(), values.end());
    }

    void set_items(bool single) {
        std::vector<ValuePointer> values;
        if (single) {
            ValuePointer value = pop();
            values = {pop(), value};
        } else {
            values = pop_marked();
        }
        ValuePointer dict = top();
        if (dict->type != Value::Type::dict || values.size() % 2 != 0) throw Unreadable("data.pkl has an invalid dict");
        for (std::size_t i = 0; i < values.size(); i += 2) dict->entries.emplace_back(values[i], values[i + 1]);
    }

    void push_memo(std::uint64_t key) {
        auto found = memo_.find(key);
        if (found == memo_.end()) throw Unreadable("data.pkl reads an unset memo entry");
        stack_.push_back(found->second);
    }

    // cls.__new__(cls, *args): the module objects, classes under __torch__.
    void new_object() {
        ValuePointer arguments = pop(), type = pop();
        if (type->type != Value::Type::global || !arguments->items.empty()) {
            throw Unreadable("data.pkl creates an object other than a TorchScript module");
        }
        auto object = make(Value::Type::object);
        object->text = type->text;
        stack_.push_back(object);
    }

    void build() {
        ValuePointer state = pop(), object = top();
        if (object->type != Value::Type::object || state->type != Value::Type::dict) {
            throw Unreadable("data.pkl sets the state of a value that is not a module");
        }
        object->entries = state->entries;
    }

    void persistent_id() {
        // ('storage', torch.<Type>Storage, key, location, numel)
        ValuePointer id = pop();
        const bool valid = id->type == Value::Type::tuple && id->items.size() == 5 &&
                           id->items[0]->type == Value::Type::string && id->items[0]->text == "storage" &&
                           id->items[1]->type == Value::Type::global && id->items[2]->type == Value::Type::string &&
                           id->items[4]->type == Value::Type::integer;
        if (!valid) throw Unreadable("data.pkl has a persistent id other than a tensor storage");
        const std::string& storage_type = id->items[1]->text;
        auto storage = make(Value::Type::storage);
        if (storage_type == "torch FloatStorage") storage->storage.dtype = "float32";
        else if (storage_type == "torch DoubleStorage") storage->storage.dtype = "float64";
        else if (storage_type == "torch HalfStorage") storage->storage.dtype = "float16";
        else if (storage_type == "torch BFloat16Storage") storage->storage.dtype = "bfloat16";
        else throw Unreadable("a tensor has the storage " + dotted(storage_type) + ", not float16, bfloat16, float32 or float64");
        storage->storage.key = id->items[2]->text;
        storage->storage.numel = id->items[4]->integer;
        stack_.push_back(storage);
    }

    void reduce() {
        ValuePointer arguments = pop(), callable = pop();
        if (callable->type != Value::Type::global || arguments->type != Value::Type::tuple) {
            throw Unreadable("data.pkl calls a value that is not a global");
        }
        const std::string& name = callable->text;
        if (name == "collections OrderedDict" && arguments->items.empty()) {
            stack_.push_back(make(Value::Type::dict));
        } else if (name == "torch._utils _rebuild_tensor_v2") {
            stack_.push_back(rebuild_tensor(arguments->items));
        } else if (name == "torch._utils _rebuild_parameter" && !arguments->items.empty() &&
                   arguments->items[0]->type == Value::Type::tensor) {
            stack_.push_back(arguments->items[0]);
        } else {
            throw Unreadable("data.pkl calls " + dotted(name) + ", which this reader does not implement");
        }
    }

    // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks)
    ValuePointer rebuild_tensor(const std::vector<ValuePointer>& arguments) {
        auto integers = [](const ValuePointer& tuple) {
            std::vector<std::int64_t> values;
            if (tuple->type != Value::Type::tuple) throw Unreadable("a tensor has an invalid size or stride");
            for (const auto& item : tuple->items) {
                if (item->type != Value::Type::integer) throw Unreadable("a tensor has an invalid size or stride");
                values.push_back(item->integer);
            }
            return values;
        };
        if (arguments.size() < 4 || arguments[0]->type != Value::Type::storage ||
            arguments[1]->type != Value::Type::integer) {
            throw Unreadable("data.pkl rebuilds a tensor from invalid arguments");
        }
        auto tensor = make(Value::Type::tensor);
        tensor->storage = arguments[0]->storage;
        tensor->offset = arguments[1]->integer;
        tensor->shape = integers(arguments[2]);
        tensor->strides = integers(arguments[3]);
        if (tensor->shape.size() != tensor->strides.size()) throw Unreadable("a tensor's size and stride differ in length");
        // Bounds that keep the offset arithmetic of read_tensor within 64 bits.
        const std::int64_t limit = std::int64_t(1) << 31;
        for (std::size_t i = 0; i < tensor->shape.size(); ++i) {
            if (tensor->shape[i] < 0 || tensor->shape[i] >= limit || tensor->strides[i] < 0 || tensor->strides[i] >= limit) {
                throw Unreadable("a tensor has an invalid size or stride");
            }
        }
        if (tensor->offset < 0 || tensor->offset >= limit * limit) throw Unreadable("a tensor has an invalid storage offset");
        return tensor;
    }

    const std::string& data_;
    std::size_t position_ = 0;
    std::vector<ValuePointer> stack_;
    std::map<std::uint64_t, ValuePointer> memo_;
    std::deque<Value> values_;  // the arena; a deque keeps the addresses of its elements
};

// ---- module tree -----------------------------------------------------------------------------

// "Linear" for "__torch__.torch.nn.modules.linear Linear" and for its mangled form
// "__torch__.torch.nn.modules.linear.___torch_mangle_3 Linear" (TorchScript mangles a class that
// it compiles a second time, e.g. a Linear without bias after one with bias, or any traced
// module); empty for a class outside `module`.
std::string stock_class(const std::string& qualified, const std::string& module) {
    const std::string prefix = "__torch__.torch.nn.modules." + module;
    if (qualified.compare(0, prefix.size(), prefix) != 0) return "";
    std::string rest = qualified.substr(prefix.size());
    const std::string mangle = ".___torch_mangle_";
    if (rest.compare(0, mangle.size(), mangle) == 0) {
        std::size_t digits = mangle.size();
        while (digits < rest.size() && std::isdigit(static_cast<unsigned char>(rest[digits]))) ++digits;
        if (digits == mangle.size()) return "";
        rest = rest.substr(digits);
    }
    return rest.size() > 1 && rest[0] == ' ' ? rest.substr(1) : "";
}

const ValuePointer* state_entry(const Value& object, const std::string& key) {
    for (const auto& entry : object.entries) {
        if (entry.first->type == Value::Type::string && entry.first->text == key) return &entry.second;
    }
    return nullptr;
}

// An IEEE 754 binary16 value (float16) widened to double, exactly.
double half_to_double(std::uint16_t bits) {
    const int exponent = (bits >> 10) & 0x1f;
    const int mantissa = bits & 0x3ff;
    const double sign = (bits & 0x8000) ? -1.0 : 1.0;
    if (exponent == 0) return sign * std::ldexp(mantissa, -24);  // zero and subnormals
    if (exponent == 31) return mantissa ? std::numeric_limits<double>::quiet_NaN() : sign * HUGE_VAL;
    return sign * std::ldexp(mantissa + 1024, exponent - 25);
}

// One element of a little-endian storage of `dtype` at byte `at`, widened to double exactly.
double read_element(const std::string& bytes, std::size_t at, const std::string& dtype) {
    if (dtype == "float64") {
        double value;
        std::memcpy(&value, bytes.data() + at, 8);
        return value;
    }
    if (dtype == "float32") {
        float value;
        std::memcpy(&value, bytes.data() + at, 4);
        return value;
    }
    std::uint16_t bits;
    std::memcpy(&bits, bytes.data() + at, 2);
    if (dtype == "float16") return half_to_double(bits);
    // bfloat16 is the upper half of a float32.
    const std::uint32_t wide = static_cast<std::uint32_t>(bits) << 16;
    float value;
    std::memcpy(&value, &wide, 4);
    return value;
}

// The tensor's values in float64, following its shape, strides and storage offset.
RowMatrix read_tensor(ZipArchive& archive, const std::string& prefix, const Value& tensor, std::int64_t rows,
                      std::int64_t columns) {
    const std::string bytes = archive.read(prefix + "data/" + tensor.storage.key);
    const std::string& dtype = tensor.storage.dtype;
    std::size_t element = 2;  // float16, bfloat16
    if (dtype == "float32") element = 4;
    if (dtype == "float64") element = 8;
    const auto available = static_cast<std::int64_t>(bytes.size() / element);
    const std::int64_t row_stride = tensor.shape.size() == 2 ? tensor.strides[0] : 0;
    const std::int64_t column_stride = tensor.strides.back();
    if (tensor.offset < 0 || row_stride < 0 || column_stride < 0) {
        throw Unreadable("a tensor reaches past its storage " + tensor.storage.key);
    }
    // Sizes and strides are below 2^31 (rebuild_tensor), so each span fits in 64 bits; the sum
    // is compared piece by piece because it may not.
    if (rows > 0 && columns > 0) {
        const std::int64_t row_span = (rows - 1) * row_stride, column_span = (columns - 1) * column_stride;
        if (tensor.offset >= available || row_span >= available - tensor.offset ||
            column_span >= available - tensor.offset - row_span) {
            throw Unreadable("a tensor reaches past its storage " + tensor.storage.key);
        }
    }
    // Zero strides let a few bytes describe a huge tensor. Parameters are never expanded that way,
    // so a tensor with more elements than its storage is rejected before it is allocated.
    if (rows > 0 && columns > available / rows) {
        throw Unreadable("a tensor has more elements than its storage " + tensor.storage.key);
    }
    RowMatrix values(rows, columns);
    for (std::int64_t i = 0; i < rows; ++i) {
        for (std::int64_t j = 0; j < columns; ++j) {
            const std::size_t at = static_cast<std::size_t>(tensor.offset + i * row_stride + j * column_stride) * element;
            values(i, j) = read_element(bytes, at, dtype);
        }
    }
    return values;
}

SequentialChild read_linear(ZipArchive& archive, const std::string& prefix, const Value& module) {
    SequentialChild child;
    child.kind = "Linear";
    const ValuePointer* weight = state_entry(module, "weight");
    if (!weight || (*weight)->type != Value::Type::tensor || (*weight)->shape.size() != 2) {
        throw Unreadable("an nn.Linear has no 2-D weight");
    }
    const Value& w = **weight;
    child.weight = read_tensor(archive, prefix, w, w.shape[0], w.shape[1]);
    child.weight_dtype = w.storage.dtype;
    // A traced nn.Linear(bias=False) has no bias entry at all, a scripted one a bias of None.
    const ValuePointer* bias = state_entry(module, "bias");
    if (!bias) return child;
    if ((*bias)->type == Value::Type::tensor) {
        const Value& b = **bias;
        if (b.shape.size() != 1 || b.shape[0] != w.shape[0]) throw Unreadable("an nn.Linear's bias does not fit its weight");
        child.bias = read_tensor(archive, prefix, b, 1, b.shape[0]).row(0).transpose();
        child.bias_dtype = b.storage.dtype;
        child.has_bias = true;
    } else if ((*bias)->type != Value::Type::none) {
        throw Unreadable("an nn.Linear's bias is neither a tensor nor None");
    }
    return child;
}

// An activation's constants (e.g. Softplus beta) when the pickle stores them; throws otherwise.
void read_constants(const Value& module, const std::vector<std::string>& names, SequentialChild& child) {
    for (const auto& name : names) {
        const ValuePointer* value = state_entry(module, name);
        if (!value || ((*value)->type != Value::Type::floating && (*value)->type != Value::Type::integer)) {
            throw Unreadable("the " + child.kind + " layer's " + name +
                             " is not stored as an attribute (TorchScript inlines it into the code)");
        }
        child.attributes[name] = (*value)->type == Value::Type::floating ? (*value)->floating
                                                                          : static_cast<double>((*value)->integer);
    }
}

SequentialChild read_child(ZipArchive& archive, const std::string& prefix, const Value& module) {
    if (module.type != Value::Type::object) throw Unreadable("a child of the nn.Sequential is not a module");
    if (stock_class(module.text, "linear") == "Linear") return read_linear(archive, prefix, module);
    SequentialChild child;
    child.kind = stock_class(module.text, "activation");
    static const std::map<std::string, std::vector<std::string>> constants = {
        {"ReLU", {}}, {"Tanh", {}}, {"Sigmoid", {}}, {"SiLU", {}}, {"Identity", {}}, {"Dropout", {}}, {"Flatten", {}},
        {"Softplus", {"beta", "threshold"}}, {"ELU", {"alpha"}}, {"LeakyReLU", {"negative_slope"}}};
    if (child.kind.empty() && stock_class(module.text, "linear") == "Identity") child.kind = "Identity";
    // Dropout computes the identity in evaluation, and Flatten on the inputs [N, D] that fim passes.
    if (child.kind.empty() && stock_class(module.text, "dropout") == "Dropout") child.kind = "Dropout";
    if (child.kind.empty() && stock_class(module.text, "flatten") == "Flatten") child.kind = "Flatten";
    auto found = constants.find(child.kind);
    if (found == constants.end()) throw Unreadable("a child has the class " + dotted(module.text) + ", not a stock layer");
    read_constants(module, found->second, child);
    return child;
}

// Rejects a child that repeats an earlier one or shares a tensor storage with it. A stack would
// give each use of a shared weight its own parameters, where PyTorch lists the weight once.
void check_not_shared(const std::string& name, const Value& child, std::map<const Value*, std::string>& modules,
                      std::map<std::string, std::string>& storages) {
    auto [module, added] = modules.emplace(&child, name);
    if (!added) {
        throw Unreadable("the nn.Sequential contains child \"" + module->second + "\" again as \"" + name +
                         "\" (shared parameters)");
    }
    for (const char* tensor : {"weight", "bias"}) {
        const ValuePointer* value = state_entry(child, tensor);
        if (!value || (*value)->type != Value::Type::tensor) continue;
        auto [storage, new_storage] = storages.emplace((*value)->storage.key, name);
        if (!new_storage) {
            throw Unreadable("children \"" + storage->second + "\" and \"" + name +
                             "\" share a tensor storage (shared parameters)");
        }
    }
}

// Children in the order of their names "0", "1", ...; other state entries are attributes of the
// Sequential itself (training, hooks) and must not be modules or tensors.
std::vector<SequentialChild> read_children(ZipArchive& archive, const std::string& prefix, const Value& root) {
    std::vector<SequentialChild> children;
    std::map<const Value*, std::string> modules;
    std::map<std::string, std::string> storages;
    for (const auto& [key, value] : root.entries) {
        if (key->type != Value::Type::string) throw Unreadable("the nn.Sequential has a state key that is not a string");
        if (value->type != Value::Type::object) {
            if (value->type == Value::Type::tensor) throw Unreadable("the nn.Sequential has its own tensor " + key->text);
            continue;
        }
        if (key->text != std::to_string(children.size())) {
            throw Unreadable("the nn.Sequential's child \"" + key->text + "\" is out of order");
        }
        check_not_shared(key->text, *value, modules, storages);
        children.push_back(read_child(archive, prefix, *value));
        children.back().name = key->text;
    }
    return children;
}

// ---- forward code ----------------------------------------------------------------------------
// torch.jit.save stores the TorchScript source of each class under code/, one file per Python
// module ("__torch__.torch.nn.modules.container" in code/__torch__/torch/nn/modules/container.py).
// The class names alone do not say what forward computes: a forward hook, scripted or traced,
// adds its operations to the Sequential's forward. So the reader accepts only a forward that
// passes its input through the children in order, in the forms that torch 1.13 writes:
//   input0 = (_0).forward(input, )              scripted
//   _3 = (_1).forward((_0).forward(input, ), )  traced

std::string trim(const std::string& text) {
    const std::size_t first = text.find_first_not_of(' ');
    if (first == std::string::npos) return "";
    return text.substr(first, text.find_last_not_of(' ') - first + 1);
}

bool is_identifier_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Whether children [from, to) are all nn.Identity, which a traced forward leaves out.
bool only_identities(const std::vector<bool>& identity, std::int64_t from, std::int64_t to) {
    if (from > to || to > static_cast<std::int64_t>(identity.size())) return false;
    return std::all_of(identity.begin() + from, identity.begin() + to, [](bool skipped) { return skipped; });
}

// Evaluates a forward expression as the number of children applied to the input so far.
class ChainExpression {
public:
    ChainExpression(const std::string& text, const std::map<std::string, std::int64_t>& values,
                    const std::map<std::string, std::int64_t>& children, const std::vector<bool>& identity)
        : text_(text), values_(values), children_(children), identity_(identity) {}

    std::int64_t evaluate() {
        const std::int64_t depth = term();
        if (position_ != text_.size()) fail();
        return depth;
    }

    [[noreturn]] static void fail() {
        throw Unreadable("the nn.Sequential's forward does more than call its children in order (a forward hook?)");
    }

private:
    std::int64_t term() {
        // Each nesting level applies a later child than the level inside it, so a valid forward
        // nests at most once per child. The bound also limits the recursion on a crafted line.
        if (++nesting_ > identity_.size() + 1) fail();
        if (!accept("(")) {
            auto found = values_.find(identifier());
            if (found == values_.end()) fail();
            return found->second;
        }
        auto child = children_.find(identifier());
        if (child == children_.end() || !accept(").forward(")) fail();
        const std::int64_t depth = term();
        if (!accept(", )") || !only_identities(identity_, depth, child->second)) fail();
        return child->second + 1;
    }

    std::string identifier() {
        const std::size_t start = position_;
        while (position_ < text_.size() && is_identifier_char(text_[position_])) ++position_;
        return text_.substr(start, position_ - start);
    }

    bool accept(const std::string& token) {
        if (text_.compare(position_, token.size(), token) != 0) return false;
        position_ += token.size();
        return true;
    }

    const std::string& text_;
    const std::map<std::string, std::int64_t>& values_;
    const std::map<std::string, std::int64_t>& children_;
    const std::vector<bool>& identity_;
    std::size_t position_ = 0;
    std::size_t nesting_ = 0;
};

// The lines of `class <name>(Module):` in a code file, up to the next class.
std::vector<std::string> class_lines(const std::string& source, const std::string& name) {
    std::vector<std::string> lines;
    bool inside = false;
    std::size_t start = 0;
    while (start < source.size()) {
        std::size_t end = source.find('\n', start);
        if (end == std::string::npos) end = source.size();
        const std::string line = source.substr(start, end - start);
        start = end + 1;
        if (line.compare(0, 6, "class ") == 0) {
            if (inside) break;
            inside = line == "class " + name + "(Module):";
            continue;
        }
        if (inside) lines.push_back(line);
    }
    return lines;
}

// Checks that the root Sequential's forward applies its children in order and nothing else.
void check_chain_forward(ZipArchive& archive, const std::string& prefix, const std::string& qualified,
                         const std::vector<SequentialChild>& sequence) {
    std::vector<bool> identity;
    for (const auto& child : sequence) identity.push_back(child.kind == "Identity");
    const auto count = static_cast<std::int64_t>(sequence.size());
    for (const auto& [entry, info] : archive.entries()) {
        if (entry.compare(0, prefix.size() + 5, prefix + "code/") != 0 || entry.size() < 3 ||
            entry.compare(entry.size() - 3, 3, ".py") != 0) {
            continue;
        }
        const std::string source = archive.read(entry);
        if (source.find("__forward_hooks__ =") != std::string::npos ||
            source.find("__forward_pre_hooks__ =") != std::string::npos) {
            throw Unreadable("a module of the archive has forward hooks (" + entry + ")");
        }
    }
    const std::size_t space = qualified.find(' ');
    std::string file = qualified.substr(0, space);
    std::replace(file.begin(), file.end(), '.', '/');
    const std::vector<std::string> lines = class_lines(archive.read(prefix + "code/" + file + ".py"), qualified.substr(space + 1));

    // The signature "  def forward(self: ..., NAME: Tensor) -> Tensor:" may span several lines.
    std::size_t at = 0;
    while (at < lines.size() && lines[at].compare(0, 14, "  def forward(") != 0) ++at;
    std::string signature;
    for (; at < lines.size(); ++at) {
        signature += lines[at];
        if (!signature.empty() && signature.back() == ':') break;
    }
    const std::size_t comma = signature.find(','), colon = signature.find(':', comma);
    if (at == lines.size() || comma == std::string::npos || colon == std::string::npos) {
        throw Unreadable("the nn.Sequential's forward code has a form this reader does not parse");
    }
    std::map<std::string, std::int64_t> values{{trim(signature.substr(comma + 1, colon - comma - 1)), 0}};
    std::map<std::string, std::int64_t> children;
    for (++at; at < lines.size() && lines[at].compare(0, 4, "    ") == 0; ++at) {
        const std::string statement = trim(lines[at]);
        if (statement.compare(0, 7, "return ") == 0) {
            const std::int64_t depth = ChainExpression(statement.substr(7), values, children, identity).evaluate();
            if (!only_identities(identity, depth, count)) ChainExpression::fail();
            return;
        }
        const std::size_t equals = statement.find(" = ");
        const std::string name = statement.substr(0, equals == std::string::npos ? 0 : equals);
        const std::string value = equals == std::string::npos ? statement : statement.substr(equals + 3);
        const std::string getattr = "getattr(self, \"";
        if (!name.empty() && value.compare(0, getattr.size(), getattr) == 0 && value.size() > getattr.size() + 2 &&
            value.compare(value.size() - 2, 2, "\")") == 0) {
            const std::string index = value.substr(getattr.size(), value.size() - getattr.size() - 2);
            // At most 9 digits, so that std::stoll cannot overflow; a Sequential has fewer children.
            if (index.empty() || index.size() > 9 || !std::all_of(index.begin(), index.end(), ::isdigit)) break;
            children[name] = std::stoll(index);
            continue;
        }
        if (name.empty() || !std::all_of(name.begin(), name.end(), is_identifier_char)) break;
        // A traced nn.Identity is called without arguments, and its result is not used.
        const std::size_t close = value.find(").forward()");
        if (value[0] == '(' && close != std::string::npos && close + 11 == value.size()) {
            auto child = children.find(value.substr(1, close - 1));
            if (child == children.end() || !only_identities(identity, child->second, child->second + 1)) break;
            continue;
        }
        values[name] = ChainExpression(value, values, children, identity).evaluate();
    }
    ChainExpression::fail();  // a statement of another form, or no return
}

// The directory that torch.jit.save puts every entry under ("archive/" or the file's stem).
std::string archive_prefix(const ZipArchive& archive) {
    for (const auto& [name, entry] : archive.entries()) {
        const std::size_t slash = name.find('/');
        if (slash != std::string::npos && name.compare(slash, std::string::npos, "/data.pkl") == 0) {
            return name.substr(0, slash + 1);
        }
    }
    throw Unreadable("the zip archive has no data.pkl (not a TorchScript archive)");
}

}  // namespace

void reject_torch_save_file(const std::string& path) {
    // torch.save writes data.pkl but no constants.pkl. Only the zip directory is read.
    bool saved_by_torch_save = false;
    try {
        ZipArchive archive(path);
        saved_by_torch_save = !archive.entries().count(archive_prefix(archive) + "constants.pkl");
    } catch (const Unreadable&) {
        return;  // not a zip archive with data.pkl: LibTorch gives its own message
    }
    if (!saved_by_torch_save) return;
    throw Error(describe("cannot read model", path, "a torch.save file (a pickled module or a state_dict), not TorchScript",
                         "load the module in Python and save it with torch.jit.script(model).save(path)"));
}

ArchiveSequential read_archive_sequential(const std::string& path) {
    ArchiveSequential result;
    try {
        ZipArchive archive(path);
        const std::string prefix = archive_prefix(archive);
        if (!archive.entries().count(prefix + "constants.pkl") || !archive.entries().count(prefix + "version")) {
            throw Unreadable("the zip archive has no constants.pkl or version (not a TorchScript archive)");
        }
        const std::string pickle = archive.read(prefix + "data.pkl");
        Unpickler unpickler(pickle);
        ValuePointer root = unpickler.load();
        if (root->type != Value::Type::object || stock_class(root->text, "container") != "Sequential") {
            throw Unreadable("the root module is " + (root->type == Value::Type::object ? dotted(root->text) : "not a module") +
                             ", not torch.nn.Sequential");
        }
        result.children = read_children(archive, prefix, *root);
        if (result.children.empty()) throw Unreadable("the nn.Sequential has no children");
        check_chain_forward(archive, prefix, root->text, result.children);
    } catch (const Unreadable& e) {
        result.rejection = e.what();
        result.children.clear();
    } catch (const std::bad_alloc&) {
        result.rejection = "an entry is too large to read";
        result.children.clear();
    } catch (const std::length_error&) {
        result.rejection = "an entry is too large to read";
        result.children.clear();
    }
    return result;
}

}  // namespace scorekit
