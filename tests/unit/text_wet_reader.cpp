// WET reading: cc_net parity, real Common Crawl records and the faults real crawls contain.
#include <catch2/catch.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "scorekit/error.hpp"
#include "scorekit/text/document.hpp"
#include "scorekit/text/unicode.hpp"
#include "scorekit/text/wet_reader.hpp"
#include "text_test_support.hpp"

using namespace scorekit::text;
using text_test::fixture;

namespace {

struct Parsed {
    std::vector<Document> documents;
    std::vector<RecordOutcome> outcomes;
    std::size_t records = 0;
};

Parsed parse(const std::string& path, ReaderFaults& faults) {
    Parsed parsed;
    WetReader reader(path, faults);
    WarcRecord record;
    while (reader.next(record)) {
        ++parsed.records;
        Document document;
        RecordOutcome outcome = record_to_document(record, "segment", path, faults, document);
        parsed.outcomes.push_back(outcome);
        if (outcome == RecordOutcome::document) parsed.documents.push_back(document);
    }
    return parsed;
}

// The real conversion record of the whirlwind excerpt, split into header lines and body.
struct RealRecord {
    std::string headers;  // from "WARC/1.0" to the blank line, without Content-Length
    std::string body;
};

RealRecord real_record() {
    std::string text = text_test::read_file(fixture("corpora/whirlwind.warc.wet"));
    std::size_t start = text.find("WARC/1.0\r\nWARC-Type: conversion");
    std::size_t blank = text.find("\r\n\r\n", start);
    std::string headers = text.substr(start, blank + 2 - start);
    std::size_t length_at = headers.find("Content-Length: ");
    std::size_t length_end = headers.find("\r\n", length_at);
    long length = std::stol(headers.substr(length_at + 16, length_end - length_at - 16));
    headers.erase(length_at, length_end + 2 - length_at);
    return {headers, text.substr(blank + 4, static_cast<std::size_t>(length))};
}

std::string make_record(const RealRecord& real, const std::string& body, long length, const std::string& url = "") {
    std::string headers = real.headers;
    if (!url.empty()) {
        std::size_t at = headers.find("WARC-Target-URI: ") + 17;
        headers.replace(at, headers.find("\r\n", at) - at, url);
    }
    return headers + "Content-Length: " + std::to_string(length) + "\r\n\r\n" + body + "\r\n\r\n";
}

// The real record under another URL, with its true Content-Length, as one gzip member.
std::string gzip_record(const RealRecord& real, const std::string& url) {
    return text_test::gzip_member(make_record(real, real.body, static_cast<long>(real.body.size()), url));
}

}  // namespace

TEST_CASE("cc_net sample parses as cc_net parses it", "[text][wet]") {
    ReaderFaults faults;
    Parsed parsed = parse(fixture("corpora/sample.warc.txt"), faults);
    REQUIRE(parsed.documents.size() == 3);
    const char* urls[] = {"http://sample_english.com", "http://sample_chinese.zh", "http://sample_russian.ru"};
    const char* dates[] = {"2019-03-18T00:00:00Z", "2019-03-18T00:00:01Z", "2019-03-18T00:00:02Z"};
    const char* titles[] = {"Famous Mark Twain Quotes", "馬克·吐溫名言", "Цитаты знаменитого Марка Твена"};
    const std::int64_t lengths[] = {353, 109, 355};
    const std::int64_t nlines[] = {6, 5, 4};
    for (int i = 0; i < 3; ++i) {
        INFO("document " << i);
        const Document& d = parsed.documents[static_cast<std::size_t>(i)];
        CHECK(d.url == urls[i]);
        CHECK(d.date_download == dates[i]);
        CHECK(d.title == titles[i]);
        CHECK(d.length == lengths[i]);
        CHECK(d.nlines == nlines[i]);
        CHECK(d.source_domain == std::string(urls[i]).substr(7));
    }
    CHECK(parsed.documents[0].digest == "sha1:XQZHW7QWIG54HVAV3KPRW6MK5ILDNCER");
    CHECK(parsed.documents[0].raw_content.rfind("Don't part with your illusions.", 0) == 0);
    // cc_net keeps the blank separator line as the last content line of this fixture.
    CHECK(parsed.documents[0].raw_content.back() == '\n');
    // The fixture's Content-Length values are shorter than its bodies.
    CHECK(faults.wrong_content_length == 4);
}

TEST_CASE("real Common Crawl record parses by header name", "[text][wet]") {
    for (const char* name : {"corpora/whirlwind.warc.wet", "corpora/whirlwind.warc.wet.gz"}) {
        INFO(name);
        ReaderFaults faults;
        WetReader reader(fixture(name), faults);
        WarcRecord info, record, none;
        REQUIRE(reader.next(info));
        CHECK(info.type == "warcinfo");
        REQUIRE(reader.next(record));
        CHECK_FALSE(reader.next(none));
        CHECK(record.type == "conversion");
        CHECK(record.url == "https://an.wikipedia.org/wiki/Escopete");
        CHECK(record.date == "2024-05-18T01:58:10Z");
        CHECK(record.language == "spa");
        CHECK(record.content_length == 4456);
        CHECK(faults.wrong_content_length == 0);
        Document document;
        REQUIRE(record_to_document(record, "seg", name, faults, document) == RecordOutcome::document);
        CHECK(document.title == "Escopete - Biquipedia, a enciclopedia libre");
        CHECK(document.digest == "sha1:RDTSR52RUHWDA7QK4BK7OUHU3EXTXYUL");
        CHECK(document.source_domain == "an.wikipedia.org");
        CHECK(document.length == 4456);
    }
    std::string gz = fixture("corpora/whirlwind.warc.wet.gz");
    ReaderFaults faults;
    WetReader reader(gz, faults);
    WarcRecord record;
    while (reader.next(record)) {
    }
    CHECK(reader.input().is_gzip());
    CHECK(reader.input().members() == 2);
}

TEST_CASE("wrong Content-Length resynchronises", "[text][wet][faults]") {
    text_test::TempDir dir;
    RealRecord real = real_record();
    std::string second_body = "Second page\nwith its own text line.\n";
    std::string path = dir.file("lengths.wet");
    text_test::write_file(path, make_record(real, real.body, static_cast<long>(real.body.size()) - 700) +
                                    make_record(real, second_body, static_cast<long>(second_body.size()) + 90, "http://b.example/") +
                                    make_record(real, second_body, 999999999999L, "http://c.example/") +
                                    make_record(real, second_body, static_cast<long>(second_body.size()), "http://d.example/"));
    ReaderFaults faults;
    Parsed parsed = parse(path, faults);
    REQUIRE(parsed.documents.size() == 4);
    CHECK(faults.wrong_content_length == 3);
    CHECK(parsed.documents[0].raw_content.size() > real.body.size() - 100);  // the whole body, not the declared part
    CHECK(parsed.documents[1].url == "http://b.example/");
    CHECK(parsed.documents[1].raw_content == "with its own text line.");
    CHECK(parsed.documents[2].url == "http://c.example/");  // a length far beyond the file
    CHECK(parsed.documents[2].raw_content == "with its own text line.");
    CHECK(parsed.documents[3].url == "http://d.example/");
}

TEST_CASE("body line reading WARC/1.0 stays in the body", "[text][wet][faults]") {
    text_test::TempDir dir;
    RealRecord real = real_record();
    std::string body = "Title line\nbefore\nWARC/1.0\nWARC-Type: conversion\nafter\n";
    std::string path = dir.file("inner.wet");
    text_test::write_file(path, make_record(real, body, static_cast<long>(body.size())) +
                                    make_record(real, real.body, static_cast<long>(real.body.size()), "http://next.example/"));
    ReaderFaults faults;
    Parsed parsed = parse(path, faults);
    REQUIRE(parsed.documents.size() == 2);
    CHECK(faults.body_line_warc_header == 1);
    CHECK(faults.wrong_content_length == 0);
    CHECK(parsed.documents[0].raw_content == "before\nWARC/1.0\nWARC-Type: conversion\nafter");
    CHECK(parsed.documents[1].url == "http://next.example/");
}

TEST_CASE("empty body and missing headers are skipped and counted", "[text][wet][faults]") {
    text_test::TempDir dir;
    RealRecord real = real_record();
    std::string no_url = make_record(real, real.body, static_cast<long>(real.body.size()));
    std::size_t at = no_url.find("WARC-Target-URI:");
    no_url.erase(at, no_url.find("\r\n", at) + 2 - at);
    std::string path = dir.file("skips.wet");
    text_test::write_file(path, make_record(real, "", 0, "http://empty.example/") + no_url +
                                    make_record(real, real.body, static_cast<long>(real.body.size()), "http://good.example/"));
    ReaderFaults faults;
    Parsed parsed = parse(path, faults);
    CHECK(parsed.records == 3);
    CHECK(faults.empty_body == 1);
    CHECK(faults.missing_headers == 1);
    REQUIRE(parsed.documents.size() == 1);
    CHECK(parsed.documents[0].url == "http://good.example/");
}

TEST_CASE("WARC file without conversion records", "[text][wet][faults]") {
    text_test::TempDir dir;
    std::string html = "<html><body><p>A page of a WARC file.</p></body></html>";
    std::string response = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" + html;
    std::string info = "software: test\r\n";
    std::string warc = "WARC/1.0\r\nWARC-Type: warcinfo\r\nWARC-Date: 2024-05-18T01:58:10Z\r\nContent-Length: " +
                       std::to_string(info.size()) + "\r\n\r\n" + info + "\r\n\r\n" +
                       "WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: http://page.example/\r\n"
                       "WARC-Date: 2024-05-18T01:58:11Z\r\nContent-Type: application/http; msgtype=response\r\n"
                       "Content-Length: " + std::to_string(response.size()) + "\r\n\r\n" + response + "\r\n\r\n";
    std::string path = dir.file("page.warc");
    text_test::write_file(path, warc);
    ReaderFaults faults;
    Parsed parsed = parse(path, faults);
    CHECK(parsed.records == 2);
    CHECK(parsed.documents.empty());
    CHECK(faults.files_without_conversion == 1);

    ReaderFaults wet_faults;
    Parsed wet = parse(fixture("corpora/whirlwind.warc.wet"), wet_faults);
    CHECK(wet.documents.size() == 1);
    CHECK(wet_faults.files_without_conversion == 0);
}

TEST_CASE("invalid UTF-8, control characters and binary bodies", "[text][wet][faults]") {
    text_test::TempDir dir;
    RealRecord real = real_record();
    std::string bad_utf8 = real.body;
    bad_utf8.replace(bad_utf8.find("Biquipedia"), 1, "\xFF\xC3");
    std::string controls = real.body;
    controls.insert(controls.find("Biquipedia"), "\x01\x02\x1B");
    std::string binary(3000, '\0');
    for (std::size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<char>((i * 131) % 256);
    std::string path = dir.file("bytes.wet");
    text_test::write_file(path, make_record(real, bad_utf8, static_cast<long>(bad_utf8.size()), "http://utf8.example/") +
                                    make_record(real, controls, static_cast<long>(controls.size()), "http://ctl.example/") +
                                    make_record(real, binary, static_cast<long>(binary.size()), "http://bin.example/") +
                                    make_record(real, real.body, static_cast<long>(real.body.size()), "http://good.example/"));
    ReaderFaults faults;
    Parsed parsed = parse(path, faults);
    REQUIRE(parsed.documents.size() == 3);
    CHECK(faults.invalid_utf8_records == 1);
    CHECK(faults.invalid_utf8_sequences == 2);
    CHECK(parsed.documents[0].title == "Escopete - \uFFFD\uFFFDiquipedia, a enciclopedia libre");
    CHECK(faults.control_character_records == 1);
    CHECK(parsed.documents[1].title == "Escopete - Biquipedia, a enciclopedia libre");
    CHECK(faults.binary_records == 1);
    CHECK(parsed.outcomes[2] == RecordOutcome::binary);
    CHECK(parsed.documents[2].url == "http://good.example/");
}

TEST_CASE("control bytes found at every offset", "[text][wet][faults]") {
    // The body scan reads 8 bytes at a time, so each control byte is tried at offsets 0 to 16.
    const std::string text = "Title line\nSome text of the page, long enough to span words.";
    for (char control : {'\x01', '\x1B', '\x7F'}) {
        for (std::size_t offset = 0; offset <= 16; ++offset) {
            INFO("byte " << static_cast<int>(control) << " at offset " << offset);
            WarcRecord record;
            record.type = "conversion";
            record.url = "http://ctl.example/";
            record.date = "2020-01-01T00:00:00Z";
            record.body = text;
            record.body.insert(offset, 1, control);
            record.content_length = static_cast<std::int64_t>(record.body.size());
            ReaderFaults faults;
            Document document;
            REQUIRE(record_to_document(record, "segment", "memory", faults, document) == RecordOutcome::document);
            CHECK(faults.control_character_records == 1);
            CHECK(document.title + "\n" + document.raw_content == text);
        }
    }
    WarcRecord blank;
    blank.type = "conversion";
    blank.url = "http://blank.example/";
    blank.date = "2020-01-01T00:00:00Z";
    blank.body = std::string(20, ' ') + "\r\n\t  \r\n" + std::string(9, ' ');
    blank.content_length = static_cast<std::int64_t>(blank.body.size());
    ReaderFaults faults;
    Document document;
    CHECK(record_to_document(blank, "segment", "memory", faults, document) == RecordOutcome::empty_body);
    CHECK(faults.empty_body == 1);
}

TEST_CASE("truncated gzip member is an error after the good records", "[text][wet][faults]") {
    text_test::TempDir dir;
    RealRecord real = real_record();
    std::string first = gzip_record(real, "http://one.example/");
    std::string second = gzip_record(real, "http://two.example/");
    std::string third = gzip_record(real, "http://three.example/");
    std::string path = dir.file("cut.warc.wet.gz");
    std::size_t damaged_at = first.size() + second.size();
    text_test::write_file(path, first + second + third.substr(0, third.size() / 2));

    bool read_ahead = GENERATE(false, true);
    INFO("read-ahead " << read_ahead);
    ReaderFaults faults;
    WetReader reader(path, faults, read_ahead);
    WarcRecord record;
    REQUIRE(reader.next(record));
    CHECK(record.url == "http://one.example/");
    REQUIRE(reader.next(record));
    CHECK(record.url == "http://two.example/");
    CHECK(record.body.compare(0, real.body.size(), real.body) == 0);
    try {
        reader.next(record);
        FAIL("no error for the truncated member");
    } catch (const scorekit::Error& e) {
        std::string message = e.what();
        CHECK_THAT(message, Catch::Contains(path));
        CHECK_THAT(message, Catch::Contains("byte offset " + std::to_string(damaged_at)));
        CHECK_THAT(message, Catch::Contains("truncated"));
    }
    CHECK(faults.truncated_files == 1);
}

TEST_CASE("corrupt gzip member is an error after the good records", "[text][wet][faults]") {
    text_test::TempDir dir;
    RealRecord real = real_record();
    std::string first = gzip_record(real, "http://one.example/");
    std::string second = gzip_record(real, "http://two.example/");
    std::string third = gzip_record(real, "http://three.example/");
    second[3] = static_cast<char>(second[3] | 0xE0);  // reserved FLG bits, which zlib and libdeflate reject
    std::string path = dir.file("corrupt.warc.wet.gz");
    text_test::write_file(path, first + second + third);

    bool read_ahead = GENERATE(false, true);
    INFO("read-ahead " << read_ahead);
    ReaderFaults faults;
    WetReader reader(path, faults, read_ahead);
    WarcRecord record;
    REQUIRE(reader.next(record));
    CHECK(record.url == "http://one.example/");
    try {
        reader.next(record);
        FAIL("no error for the corrupt member");
    } catch (const scorekit::Error& e) {
        std::string message = e.what();
        CHECK_THAT(message, Catch::Contains(path));
        CHECK_THAT(message, Catch::Contains("corrupt gzip data in the member at byte offset " + std::to_string(first.size())));
    }
}

TEST_CASE("zero padding after the last member is ignored", "[text][wet][faults]") {
    // tar pads files with zeros, and GNU gzip ignores them with a warning; other bytes after
    // them are still an error.
    text_test::TempDir dir;
    RealRecord real = real_record();
    std::string members = gzip_record(real, "http://one.example/") + gzip_record(real, "http://two.example/");
    std::string padded = dir.file("padded.warc.wet.gz"), junk = dir.file("junk.warc.wet.gz");
    text_test::write_file(padded, members + std::string(70000, '\0'));
    text_test::write_file(junk, members + std::string(100, '\0') + "x");

    bool read_ahead = GENERATE(false, true);
    INFO("read-ahead " << read_ahead);
    ReaderFaults faults;
    WetReader padded_reader(padded, faults, read_ahead);
    WarcRecord record;
    REQUIRE(padded_reader.next(record));
    REQUIRE(padded_reader.next(record));
    CHECK(record.url == "http://two.example/");
    CHECK_FALSE(padded_reader.next(record));

    WetReader junk_reader(junk, faults, read_ahead);
    REQUIRE(junk_reader.next(record));
    REQUIRE(junk_reader.next(record));
    CHECK_THROWS_WITH(junk_reader.next(record),
                      Catch::Contains("unexpected bytes after the gzip member ending at byte offset " +
                                      std::to_string(members.size())));
}

TEST_CASE("whole-file gzip and LF-only headers", "[text][wet]") {
    text_test::TempDir dir;
    std::string records;
    for (int i = 0; i < 50; ++i) {
        std::string body = "Title " + std::to_string(i) + "\nline one of page " + std::to_string(i) + "\nline two";
        records += "WARC/1.0\nWARC-Type: conversion\nWARC-Date: 2020-01-01T00:00:00Z\nContent-Length: " +
                   std::to_string(body.size()) + "\nWARC-Target-URI: " + (i == 0 ? "<" : "") + "http://p" + std::to_string(i) +
                   ".example:8080/x?y" + (i == 0 ? ">" : "") + "\n\n" + body + "\n\n";
    }
    std::string path = dir.file("whole.wet.gz");
    text_test::write_file(path, text_test::gzip_member(records));
    ReaderFaults faults;
    Parsed parsed = parse(path, faults);
    REQUIRE(parsed.documents.size() == 50);
    CHECK(faults.wrong_content_length == 0);
    CHECK(parsed.documents[49].title == "Title 49");
    // cc_net keeps one trailing blank line (only two are dropped): the LF separator adds one.
    CHECK(parsed.documents[49].raw_content == "line one of page 49\nline two\n");
    CHECK(parsed.documents[49].source_domain == "p49.example:8080");
    CHECK(parsed.documents[49].digest.empty());
    // A URI in angle brackets, as wget 1.19 writes it.
    CHECK(parsed.documents[0].url == "http://p0.example:8080/x?y");
    CHECK(parsed.documents[0].source_domain == "p0.example:8080");
}

TEST_CASE("gzip members of every size read alike", "[text][wet]") {
    // Members below the whole-member limit are inflated whole; one of about 6 MB compressed is
    // streamed. Both must give the bytes of the uncompressed file.
    text_test::TempDir dir;
    auto record = [](int index, const std::string& body) {
        return "WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI: http://p" + std::to_string(index) +
               ".example/\r\nWARC-Date: 2020-01-01T00:00:00Z\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\n\r\n" + body + "\r\n\r\n";
    };
    // Random lowercase words (fixed LCG seed) compress to about 60% of their size.
    std::uint64_t state = 12345;
    auto random_text = [&](std::size_t bytes) {
        std::string text;
        while (text.size() < bytes) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            std::uint64_t bits = state >> 20;
            text += static_cast<char>('a' + bits % 26);
            if (bits % 7 == 0) text += (bits % 91 == 0) ? '\n' : ' ';
        }
        return "Title\n" + text;
    };
    std::string small = record(0, random_text(3000));
    std::string medium = record(1, random_text(3u << 20));  // inflated whole, past the first 1 MB buffer
    std::string large;
    for (int i = 2; i < 12; ++i) large += record(i, random_text(1u << 20));
    std::string last = record(12, random_text(500));
    std::string large_member = text_test::gzip_member(large);
    REQUIRE(large_member.size() > (4u << 20));

    std::string plain_path = dir.file("plain.wet");
    std::string gzip_path = dir.file("members.wet.gz");
    text_test::write_file(plain_path, small + medium + large + last);
    text_test::write_file(gzip_path, text_test::gzip_member(small) + text_test::gzip_member(medium) + large_member +
                                         text_test::gzip_member(last));
    bool read_ahead = GENERATE(false, true);
    INFO("read-ahead " << read_ahead);
    ReaderFaults plain_faults, gzip_faults;
    WetReader plain(plain_path, plain_faults), gzip(gzip_path, gzip_faults, read_ahead);
    WarcRecord expected, actual;
    int records = 0;
    while (plain.next(expected)) {
        INFO("record " << records);
        REQUIRE(gzip.next(actual));
        CHECK(actual.url == expected.url);
        CHECK(actual.body == expected.body);
        ++records;
    }
    CHECK_FALSE(gzip.next(actual));
    CHECK(records == 13);
    CHECK(gzip.input().members() == 4);
    CHECK(gzip.input().error().empty());
    CHECK(gzip_faults.wrong_content_length == 0);
}

TEST_CASE("JSON lines are written as Python's json.dumps writes them", "[text][json]") {
    Document d;
    d.url = "u";
    d.title = "t\"\\\x01\u00e9";
    d.raw_content = "a\nb\tc";
    d.length = 5;
    d.nlines = 2;
    d.deduplicated = true;
    d.original_nlines = 3;
    d.original_length = 9;
    d.line_ids = {0, 2};
    d.identified = true;
    d.language = "en";
    d.language_score_percent = 70;
    d.language_identifier = "cld2";
    std::string out;
    append_json(d, out);
    CHECK(out ==
          "{\"url\": \"u\", \"date_download\": \"\", \"digest\": \"\", \"length\": 5, \"nlines\": 2, "
          "\"source_domain\": \"\", \"title\": \"t\\\"\\\\\\u0001\u00e9\", \"raw_content\": \"a\\nb\\tc\", "
          "\"cc_segment\": \"\", \"original_nlines\": 3, \"original_length\": 9, \"line_ids\": [0, 2], "
          "\"language\": \"en\", \"language_score\": 0.7, \"language_identifier\": \"cld2\"}\n");
    CHECK(format_score(100) == "1.0");
    CHECK(format_score(7) == "0.07");
    CHECK(format_score(50) == "0.5");
    CHECK(format_score(0) == "0.0");
    CHECK(url_netloc("https://user@host.example:443/path?q") == "user@host.example:443");
    CHECK(url_netloc("no-scheme.example/path") == "");
}

TEST_CASE("shared buffer views stay valid", "[text][wet]") {
    // Views into shared buffers must survive later reads: the records pass the 8 MB buffer
    // several times, and a 6 MB record cannot fit in the free half of one.
    text_test::TempDir dir;
    std::uint64_t state = 777;
    auto record = [&](int index, std::size_t bytes) {
        std::string body = "Title " + std::to_string(index) + "\n";
        while (body.size() < bytes) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            std::uint64_t bits = state >> 20;
            body += static_cast<char>('a' + bits % 26);
            if (bits % 9 == 0) body += (bits % 53 == 0) ? '\n' : ' ';
        }
        return "WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI: http://p" + std::to_string(index) +
               ".example/\r\nWARC-Date: 2020-01-01T00:00:00Z\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\n\r\n" + body + "\r\n\r\n";
    };
    std::string plain_text, members;
    for (int i = 0; i < 7000; ++i) {
        std::string text = record(i, i == 3000 ? (6u << 20) : 3000 + static_cast<std::size_t>(i % 17) * 100);
        plain_text += text;
        members += text_test::gzip_member(text);
    }
    const std::string plain_path = dir.file("plain.wet"), gzip_path = dir.file("members.wet.gz");
    text_test::write_file(plain_path, plain_text);
    text_test::write_file(gzip_path, members);

    const bool gzip = GENERATE(false, true);
    const bool read_ahead = GENERATE(false, true);
    INFO("gzip " << gzip << ", read-ahead " << read_ahead);
    ReaderFaults faults;
    WetReader reader(gzip ? gzip_path : plain_path, faults, read_ahead);
    std::vector<std::string_view> bodies;
    std::vector<std::shared_ptr<const std::string>> buffers;
    WarcRecord record_headers;
    std::string_view body;
    while (reader.next(record_headers, body)) {
        bodies.push_back(body);
        std::shared_ptr<const std::string> buffer = reader.share_buffer();
        if (buffers.empty() || buffers.back() != buffer) buffers.push_back(buffer);
    }
    CHECK(buffers.size() > 2);

    ReaderFaults expected_faults;
    WetReader copying(plain_path, expected_faults);
    WarcRecord expected;
    std::size_t index = 0;
    while (copying.next(expected)) {
        INFO("record " << index);
        REQUIRE(index < bodies.size());
        CHECK(bodies[index] == expected.body);
        ++index;
    }
    CHECK(index == 7000);
    CHECK(bodies.size() == 7000);
}

TEST_CASE("header names in any case and spacing", "[text][wet]") {
    // Field names are case-insensitive, and blanks around a name or a value are no part of it,
    // also in the first field after the version line, which marks a record start.
    text_test::TempDir dir;
    RealRecord real = real_record();
    std::string body = real.body;
    std::string length = std::to_string(body.size());
    std::string records =
        "WARC/1.1\r\nwarc-type: conversion\r\nwarc-target-uri: http://lower.example/\r\nwarc-date: 2024-05-18T01:58:10Z\r\n"
        "content-length: " + length + "\r\n\r\n" + body + "\r\n\r\n" +
        "WARC/1.1\r\nWARC-Type : conversion\r\nWARC-TARGET-URI\t:  http://spaced.example/  \r\n"
        "WARC-DATE:\t2024-05-18T01:58:11Z\r\nCONTENT-LENGTH :   " + length + "  \r\n\r\n" + body + "\r\n\r\n" +
        "WARC/1.1\r\n  WARC-Type: conversion\r\nWARC-Target-URI: http://indented.example/\r\n"
        "WARC-Date: 2024-05-18T01:58:12Z\r\nContent-Length: " + length + "\r\n\r\n" + body + "\r\n\r\n";
    std::string path = dir.file("cases.warc.wet");
    text_test::write_file(path, records);
    ReaderFaults faults;
    Parsed parsed = parse(path, faults);
    REQUIRE(parsed.documents.size() == 3);
    CHECK(parsed.documents[0].url == "http://lower.example/");
    CHECK(parsed.documents[1].url == "http://spaced.example/");
    CHECK(parsed.documents[1].date_download == "2024-05-18T01:58:11Z");
    CHECK(parsed.documents[2].url == "http://indented.example/");
    for (const Document& document : parsed.documents) CHECK(document.length == static_cast<std::int64_t>(body.size()));
    CHECK(faults.wrong_content_length == 0);
    CHECK(faults.missing_headers == 0);
}

TEST_CASE("folded header lines are joined", "[text][wet]") {
    // A line that starts with a space or a tab continues the field above it, and the line break
    // with its blanks reads as one space (LWS in the RFC 2616 grammar that WARC uses).
    text_test::TempDir dir;
    RealRecord real = real_record();
    std::string body = real.body;
    std::string records =
        "WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI:\r\n  http://folded.example/page\r\n"
        "WARC-Date: 2024-05-18T01:58:10Z\r\nX-Comment: first part\r\n\tsecond part: with a colon\r\n"
        "WARC-Identified-Content-Language: spa,\r\n eng\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\n\r\n" + body + "\r\n\r\n";
    std::string path = dir.file("folded.warc.wet");
    text_test::write_file(path, records);
    ReaderFaults faults;
    WetReader reader(path, faults);
    WarcRecord record;
    REQUIRE(reader.next(record));
    CHECK(record.url == "http://folded.example/page");
    CHECK(record.language == "spa, eng");
    CHECK(record.date == "2024-05-18T01:58:10Z");
    CHECK(record.content_length == static_cast<std::int64_t>(body.size()));
    CHECK(record.body.substr(0, body.size()) == body);  // the record separator follows
    CHECK_FALSE(reader.next(record));
    CHECK(faults.wrong_content_length == 0);
}

TEST_CASE("empty file is an error", "[text][wet][faults]") {
    // A file of zero bytes, or of blank lines only, is most often a download that failed.
    text_test::TempDir dir;
    struct Case {
        std::string content;
        std::string message;
    };
    const Case cases[] = {{"", "the file is empty"},
                          {text_test::gzip_member(""), "the file is empty"},
                          {"\r\n\n \n", "no WARC record in its 5 bytes of blank lines"}};
    for (const Case& c : cases) {
        std::string path = dir.file("empty.warc.wet.gz");
        text_test::write_file(path, c.content);
        ReaderFaults faults;
        WetReader reader(path, faults);
        WarcRecord record;
        CHECK_THROWS_WITH(reader.next(record), Catch::Contains("empty.warc.wet.gz") && Catch::Contains(c.message));
    }
}

TEST_CASE("stray bytes after a framed record", "[text][wet][faults]") {
    // A Content-Length followed by the CRLF CRLF separator is right even when a stray line
    // (NUL bytes, a long run of text) follows: the line is skipped and counted, and no document
    // takes it into its text.
    text_test::TempDir dir;
    RealRecord real = real_record();
    std::string second = "Second page\nwith its own text line.\n";
    std::string stray = std::string(10, '\0') + "\n" + std::string(3u << 20, 'y') + "\n";
    std::string path = dir.file("stray.wet");
    text_test::write_file(path, make_record(real, real.body, static_cast<long>(real.body.size())) + stray +
                                    make_record(real, second, static_cast<long>(second.size()), "http://b.example/"));
    ReaderFaults faults;
    Parsed parsed = parse(path, faults);
    REQUIRE(parsed.documents.size() == 2);
    CHECK(faults.wrong_content_length == 0);
    CHECK(faults.stray_bytes == stray.size());
    CHECK(faults.control_character_records == 0);
    CHECK(parsed.documents[0].raw_content.find("yyyy") == std::string::npos);
    CHECK(parsed.documents[1].url == "http://b.example/");
    CHECK(parsed.documents[1].raw_content == "with its own text line.");
}

TEST_CASE("byte order mark before a record", "[text][wet]") {
    // A UTF-8 byte order mark in front of a file, or in front of the second of two concatenated
    // files, is no stray line. cc_net reads the record after the first mark, too.
    text_test::TempDir dir;
    RealRecord real = real_record();
    std::string second = "Second page\nwith its own text line.\n";
    const std::string bom = "\xEF\xBB\xBF";
    std::string path = dir.file("bom.wet");
    text_test::write_file(path, bom + make_record(real, real.body, static_cast<long>(real.body.size())) + bom +
                                    make_record(real, second, static_cast<long>(second.size()), "http://b.example/"));
    ReaderFaults faults;
    Parsed parsed = parse(path, faults);
    REQUIRE(parsed.documents.size() == 2);
    CHECK(faults.stray_bytes == 0);
    CHECK(faults.wrong_content_length == 0);
    CHECK(parsed.documents[0].title.rfind(bom, 0) == std::string::npos);
    CHECK(parsed.documents[0].raw_content.find(bom) == std::string::npos);
    CHECK(parsed.documents[1].url == "http://b.example/");
    CHECK(parsed.documents[1].raw_content == "with its own text line.");
}

TEST_CASE("long stray line is skipped in parts", "[text][wet][faults]") {
    // The reader scans a line longer than 1 MiB in parts of 1 MiB. A record header that follows
    // such a line on the same line, at the boundary of two parts, is no record start: the line
    // and the lines after it up to the next real record header are stray bytes.
    text_test::TempDir dir;
    RealRecord real = real_record();
    std::string second = "Second page\nwith its own text line.\n";
    std::string first = make_record(real, real.body, static_cast<long>(real.body.size()));
    std::string inside = make_record(real, second, static_cast<long>(second.size()), "http://inside.example/");
    std::string stray = std::string(1u << 20, 'y') + inside;
    std::string path = dir.file("long-stray.wet");
    text_test::write_file(path, first + stray +
                                    make_record(real, second, static_cast<long>(second.size()), "http://b.example/"));
    ReaderFaults faults;
    Parsed parsed = parse(path, faults);
    REQUIRE(parsed.documents.size() == 2);
    CHECK(parsed.documents[1].url == "http://b.example/");
    CHECK(faults.stray_bytes > (1u << 20) + inside.find('\n'));
    CHECK(faults.wrong_content_length == 0);
}

TEST_CASE("invalid UTF-8 in header values is repaired", "[text][wet][faults]") {
    // The URL, date and digest are written to the JSON output, which must stay valid UTF-8.
    text_test::TempDir dir;
    RealRecord real = real_record();
    std::string path = dir.file("header.wet");
    text_test::write_file(path, make_record(real, real.body, static_cast<long>(real.body.size()),
                                            "http://bad\xFF\xFE.example/page"));
    ReaderFaults faults;
    Parsed parsed = parse(path, faults);
    REQUIRE(parsed.documents.size() == 1);
    const std::string replacement = "\xEF\xBF\xBD";
    CHECK(parsed.documents[0].url == "http://bad" + replacement + replacement + ".example/page");
    CHECK(parsed.documents[0].source_domain == "bad" + replacement + replacement + ".example");
    CHECK(faults.invalid_utf8_records == 1);
    CHECK(faults.invalid_utf8_sequences == 2);
    std::string json;
    append_json(parsed.documents[0], json);
    CHECK(is_valid_utf8(json));
}
