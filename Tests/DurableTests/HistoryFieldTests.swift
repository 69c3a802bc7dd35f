import Foundation
import GreenlightModels
import Testing

@testable import DurableExecution

struct HistoryFieldTests {
    @Test func detailsAreSortedAndEngineTextIsEmbeddedAsItIs() throws {
        let text = HistoryField.object([
            "Result": .raw(#"{"b":1,"a":[true,null]}"#), "Name": .string("step \"one\""), "Attempt": .number(2),
            "Outside": .checked("not json"), "Payload": .checked(#"{"ok":true}"#), "Missing": .checked(nil),
        ])
        #expect(
            text
                == #"{"Attempt":2,"Missing":null,"Name":"step \"one\"","Outside":"not json","Payload":{"ok":true},"Result":{"b":1,"a":[true,null]}}"#
        )
        // Whatever went in, the details are JSON.
        #expect(try JSONSerialization.jsonObject(with: Data(text.utf8)) is [String: Any])
    }
}
