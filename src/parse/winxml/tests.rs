use super::*;

const LOGON: &str = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing' Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/><EventID>4624</EventID><Version>2</Version><Level>0</Level><Task>12544</Task><Opcode>0</Opcode><Keywords>0x8020000000000000</Keywords><TimeCreated SystemTime='2023-05-02T08:15:30.1234567Z'/><EventRecordID>88211</EventRecordID><Correlation ActivityID='{aa11bb22-0000-0000-0000-000000000001}'/><Execution ProcessID='640' ThreadID='7012'/><Channel>Security</Channel><Computer>fs01.corp.example</Computer><Security/></System><EventData><Data Name='SubjectUserSid'>S-1-5-18</Data><Data Name='TargetUserName'>jdoe</Data><Data Name='LogonProcessName'>NtLmSsp </Data><Data Name='IpAddress'>10.1.2.3</Data><Data Name='Note'>a &amp; b &lt;c&gt;</Data><Data Name='Empty'/></EventData></Event>";

#[test]
fn reads_system_and_event_data() {
    let mut ev = WinEvent::default();
    parse_event(LOGON, &mut ev).unwrap();
    assert_eq!(ev.event_id.as_deref(), Some("4624"));
    assert_eq!(
        ev.provider_name.as_deref(),
        Some("Microsoft-Windows-Security-Auditing")
    );
    assert_eq!(
        ev.time_created.as_deref(),
        Some("2023-05-02T08:15:30.1234567Z")
    );
    assert_eq!(ev.process_id.as_deref(), Some("640"));
    assert_eq!(ev.thread_id.as_deref(), Some("7012"));
    assert_eq!(ev.record_id.as_deref(), Some("88211"));
    assert_eq!(ev.channel.as_deref(), Some("Security"));
    assert_eq!(ev.computer.as_deref(), Some("fs01.corp.example"));
    assert_eq!(ev.data("TargetUserName"), Some("jdoe"));
    // Trailing spaces in values are data, not formatting.
    assert_eq!(ev.data("LogonProcessName"), Some("NtLmSsp "));
    assert_eq!(ev.data("Note"), Some("a & b <c>"));
    assert_eq!(ev.data("Empty"), Some(""));
    assert!(matches!(ev.data_borrowed("TargetUserName"), Some(true)));
}

impl WinEvent<'_> {
    fn data_borrowed(&self, name: &str) -> Option<bool> {
        self.event_data
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| matches!(v, Cow::Borrowed(_)))
    }
}

#[test]
fn pretty_printed_with_record_line_user_data_and_params() {
    let xml = "Record 7\n<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\">\n  <System>\n    <Provider Name=\"Microsoft-Windows-Eventlog\" Guid=\"{fc65ddd8-d6ef-4962-83d5-6e5cfe9ce148}\">\n    </Provider>\n    <EventID Qualifiers=\"16384\">1102</EventID>\n    <Channel>Security</Channel>\n    <Security UserID=\"S-1-5-21-1-2-3-500\">\n    </Security>\n  </System>\n  <UserData>\n    <LogFileCleared xmlns=\"http://manifests.microsoft.com/win/2004/08/windows/eventlog\">\n      <SubjectUserName>admin</SubjectUserName>\n      <SubjectLogonId>0x2f1a</SubjectLogonId>\n      <Nested><Deep>ignored</Deep></Nested>\n    </LogFileCleared>\n  </UserData>\n</Event>\n";
    let start = xml_start(xml).unwrap();
    let mut ev = WinEvent::default();
    parse_event(&xml[start..], &mut ev).unwrap();
    assert_eq!(ev.event_id.as_deref(), Some("1102"));
    assert_eq!(ev.qualifiers.as_deref(), Some("16384"));
    assert_eq!(ev.user_id.as_deref(), Some("S-1-5-21-1-2-3-500"));
    assert_eq!(ev.user_data_name.as_deref(), Some("LogFileCleared"));
    assert_eq!(ev.user_data_value("SubjectUserName"), Some("admin"));
    assert_eq!(ev.user_data_value("Nested"), Some(""));
    assert_eq!(ev.user_data_value("Deep"), None);

    let classic = "<Event><System><EventID>6009</EventID></System><EventData><Data>10.00.</Data><Data>\n   </Data><Data>x</Data><Binary>00FF</Binary></EventData></Event>";
    let mut ev = WinEvent::default();
    parse_event(classic, &mut ev).unwrap();
    assert_eq!(ev.data("param1"), Some("10.00."));
    assert_eq!(ev.data("param2"), Some(""));
    assert_eq!(ev.data("param3"), Some("x"));
    assert_eq!(ev.data("Binary"), Some("00FF"));
}

#[test]
fn rendering_info_and_event_viewer_markers() {
    let xml = "- <Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\">- <System>  <Provider Name=\"X\" />   <EventID>4625</EventID> </System>- <EventData>  <Data Name=\"A\">1</Data> </EventData><RenderingInfo Culture='en-US'><Message>An account failed to log on.</Message><Level>Information</Level><Task>Logon</Task><Opcode>Info</Opcode><Keywords><Keyword>Audit Failure</Keyword></Keywords></RenderingInfo></Event>";
    let start = xml_start(xml).unwrap();
    let mut ev = WinEvent::default();
    parse_event(&xml[start..], &mut ev).unwrap();
    assert_eq!(ev.data("A"), Some("1"));
    assert_eq!(ev.message.as_deref(), Some("An account failed to log on."));
    assert_eq!(ev.level_name.as_deref(), Some("Information"));
    assert_eq!(ev.task_name.as_deref(), Some("Logon"));
    assert_eq!(ev.keyword_names, vec![Cow::Borrowed("Audit Failure")]);
}

#[test]
fn broken_input_keeps_what_was_read() {
    let mut ev = WinEvent::default();
    let err = parse_event(&LOGON[..400], &mut ev).unwrap_err();
    assert!(err.0.contains("ended") || err.0.contains("error"), "{err}");
    assert_eq!(ev.event_id.as_deref(), Some("4624"));

    for junk in [
        "",
        "<",
        "<Event",
        "<<<>>>",
        "<Event><System><EventID>1</Event",
        "plain",
    ] {
        let mut ev = WinEvent::default();
        let _ = parse_event(junk, &mut ev);
    }
    let mut ev = WinEvent::default();
    assert!(parse_event("<Other/>", &mut ev).is_err());
}

#[test]
fn deep_nesting_does_not_recurse() {
    let mut xml = String::from("<Event><UserData><W>");
    for _ in 0..100_000 {
        xml.push_str("<a>");
    }
    let mut ev = WinEvent::default();
    let _ = parse_event(&xml, &mut ev);
    assert_eq!(ev.user_data.len(), 1);
}

#[test]
fn xml_start_skips_prefixes() {
    assert_eq!(xml_start("  <Event/>"), Some(2));
    assert_eq!(xml_start("\u{feff}Record 12\n<?xml?>"), Some(13));
    assert_eq!(xml_start("- <Event>"), Some(2));
    assert_eq!(xml_start("{\"a\":1}"), None);
    assert_eq!(xml_start("Record x <"), None);
}

#[test]
fn tag_name_matches_byte_loops() {
    let reference = |ib: &[u8]| {
        let len = ib
            .iter()
            .position(u8::is_ascii_whitespace)
            .unwrap_or(ib.len());
        let local = ib[..len]
            .iter()
            .rposition(|&c| c == b':')
            .map_or(0, |i| i + 1);
        (len, local)
    };
    let mut cases = 0;
    for len in 0..40 {
        for colon in [
            None,
            Some(0),
            Some(1),
            Some(7),
            Some(15),
            Some(16),
            Some(30),
        ] {
            for end in ["", " ", "\t", "\n", "\r", "\x0c", " a='1'", "\x0b"] {
                let mut name: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
                if let Some(c) = colon.filter(|&c| c < len) {
                    name[c] = b':';
                }
                let mut ib = name.clone();
                ib.extend_from_slice(end.as_bytes());
                assert_eq!(
                    super::tag_name(&ib),
                    reference(&ib),
                    "{:?}",
                    String::from_utf8_lossy(&ib)
                );
                cases += 1;
            }
        }
    }
    assert!(cases > 2000);
}

#[test]
fn fast_scanner_agrees_with_quick_xml_on_variants() {
    let variants = [
        LOGON.to_owned(),
        LOGON.replace("<Data Name=", "<Data\tName="),
        LOGON.replace("<Data Name=", "<Data\r\n  Name="),
        LOGON
            .replace("<EventID>", "<ev:EventID xmlns:ev='x'>")
            .replace("</EventID>", "</ev:EventID>"),
        LOGON.replace("Name='TargetUserName'", "Name = \"TargetUserName\""),
        LOGON.replace("<Computer>", "<Computer     >"),
        LOGON.replace("<Security/>", "<Security UserID='S-1-5-18'/>"),
        LOGON.replace(
            "Data Name='IpAddress'",
            "Data Name='IpAddress-with-a-rather-long-name-here'",
        ),
        LOGON
            .replace("<Channel>", "<ChannelWithAVeryLongElementName>")
            .replace("</Channel>", "</ChannelWithAVeryLongElementName>"),
    ];
    for xml in &variants {
        let mut fast = WinEvent::default();
        // The fast scanner itself reads each variant to its end (no fallback).
        assert!(scan(xml, &mut fast), "{xml}");
        let mut slow = WinEvent::default();
        parse_with_quick_xml(xml, &mut slow).unwrap();
        assert_eq!(fast, slow, "{xml}");
        assert!(fast.has_identity());
    }
}
