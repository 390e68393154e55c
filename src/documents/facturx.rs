//! Factur-X: the structured invoice embedded in a funder's statement PDF.
//!
//! A funder's bill (type 380) or credit note (type 381) carries `factur-x.xml`, a
//! UN/CEFACT Cross Industry Invoice of profile EN 16931
//! (`urn:cen.eu:en16931:2017`): the operator as seller (SIREN as legal
//! registration, scheme 0002; VAT number), the funder as buyer (SIRET, scheme
//! 0009), for a public funder its Chorus Pro service code as buyer reference (BT-10)
//! and the engagement number as purchase order reference (BT-13).
//!
//! The statement's lines are grouped into invoice lines, one per program and kind
//! (tickets used, fees, refunds), quantity the number of statement lines. The
//! tickets used are already covered by the funder's payments: on an explained bill
//! they are the prepaid amount (BT-113), and the amount due (BT-115) is the fees.
//! The pass numérique funds training: VAT category E (exempt), rate 0, with its
//! reason.
//!
//! [`xml`] is pure; [`xmp_extension`] gives the Factur-X XMP schema that the PDF
//! writer adds to the document's metadata.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::statement_pdf::{FunderSplit, StatementDocument, StatementKind, Wording};

/// The embedded file's name, fixed by the standard.
pub const FILE_NAME: &str = "factur-x.xml";

/// What the statement alone does not say: the legal identities and the public
/// buyer's references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceParties {
    /// The operator's SIREN (nine digits).
    pub seller_siren: String,
    /// The operator's intra-community VAT number.
    pub seller_vat_number: String,
    pub seller_country: String,
    /// The operator's account, for the transfer (payment means 58).
    pub seller_iban: Option<String>,
    /// The Chorus Pro service code of a public funder.
    pub chorus_service_code: Option<String>,
    /// The engagement number (*numéro d'engagement*) of the funder's line.
    pub engagement_number: Option<String>,
}

/// The Factur-X type code: 381 for a credit note, 380 for an invoice.
pub fn type_code(kind: StatementKind) -> &'static str {
    match kind {
        StatementKind::CreditNote => "381",
        _ => "380",
    }
}

/// Whether a statement of this kind is a Factur-X invoice (addressed to a funder).
pub fn applies_to(kind: StatementKind) -> bool {
    matches!(kind, StatementKind::FunderBill | StatementKind::CreditNote)
}

/// What the invoice comes to: lines total, prepaid, due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amounts {
    pub total: Decimal,
    pub prepaid: Decimal,
    pub due: Decimal,
}

/// The amounts of a statement's invoice.
pub fn amounts(doc: &StatementDocument) -> Amounts {
    let prepaid = match (doc.wording, doc.kind) {
        (Wording::Explained, StatementKind::FunderBill) => FunderSplit::of(&doc.lines).covered,
        _ => Decimal::ZERO,
    };
    Amounts {
        total: doc.total,
        prepaid,
        due: doc.total - prepaid,
    }
}

/// One invoice line: statement lines of one program and kind.
struct Line {
    name: String,
    count: usize,
    amount: Decimal,
}

fn lines(doc: &StatementDocument) -> Vec<Line> {
    let mut out: Vec<Line> = Vec::new();
    for line in &doc.lines {
        let what = if doc.kind == StatementKind::CreditNote {
            line.label
                .clone()
                .unwrap_or_else(|| "Restitution".to_owned())
        } else if line.serial.is_empty() {
            line.label
                .clone()
                .unwrap_or_else(|| "Frais de gestion".to_owned())
        } else {
            "Chèques Pass numérique utilisés".to_owned()
        };
        let name = if line.program.is_empty() {
            what
        } else {
            format!("{what} – {}", line.program)
        };
        match out.iter_mut().find(|l| l.name == name) {
            Some(existing) => {
                existing.count += 1;
                existing.amount += line.amount;
            }
            None => out.push(Line {
                name,
                count: 1,
                amount: line.amount,
            }),
        }
    }
    if out.is_empty() {
        out.push(Line {
            name: doc.title().to_owned(),
            count: 1,
            amount: doc.total,
        });
    }
    out
}

const EXEMPTION: &str = "Exonération de TVA : formation professionnelle (article 261-4-4° du CGI)";

/// The `factur-x.xml` of a funder's statement.
pub fn xml(doc: &StatementDocument, parties: &InvoiceParties) -> String {
    let a = amounts(doc);
    let mut x = String::with_capacity(4096);
    x.push_str(concat!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        "<rsm:CrossIndustryInvoice",
        " xmlns:rsm=\"urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100\"",
        " xmlns:qdt=\"urn:un:unece:uncefact:data:standard:QualifiedDataType:100\"",
        " xmlns:ram=\"urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100\"",
        " xmlns:udt=\"urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100\">\n",
        "<rsm:ExchangedDocumentContext><ram:GuidelineSpecifiedDocumentContextParameter>",
        "<ram:ID>urn:cen.eu:en16931:2017</ram:ID>",
        "</ram:GuidelineSpecifiedDocumentContextParameter></rsm:ExchangedDocumentContext>\n",
    ));
    x.push_str("<rsm:ExchangedDocument>");
    x.push_str(&format!(
        "<ram:ID>{}</ram:ID><ram:TypeCode>{}</ram:TypeCode><ram:IssueDateTime>{}</ram:IssueDateTime>",
        esc(&doc.number),
        type_code(doc.kind),
        date(doc.issued_on)
    ));
    x.push_str(&format!(
        "<ram:IncludedNote><ram:Content>{} {} – Pass numérique</ram:Content></ram:IncludedNote>",
        esc(doc.title()),
        esc(&doc.number)
    ));
    x.push_str("</rsm:ExchangedDocument>\n<rsm:SupplyChainTradeTransaction>\n");
    for (index, line) in lines(doc).iter().enumerate() {
        x.push_str(&format!(
            concat!(
                "<ram:IncludedSupplyChainTradeLineItem>",
                "<ram:AssociatedDocumentLineDocument><ram:LineID>{}</ram:LineID></ram:AssociatedDocumentLineDocument>",
                "<ram:SpecifiedTradeProduct><ram:Name>{}</ram:Name></ram:SpecifiedTradeProduct>",
                "<ram:SpecifiedLineTradeAgreement><ram:NetPriceProductTradePrice><ram:ChargeAmount>{}</ram:ChargeAmount>",
                "<ram:BasisQuantity unitCode=\"C62\">{}</ram:BasisQuantity></ram:NetPriceProductTradePrice></ram:SpecifiedLineTradeAgreement>",
                "<ram:SpecifiedLineTradeDelivery><ram:BilledQuantity unitCode=\"C62\">{}</ram:BilledQuantity></ram:SpecifiedLineTradeDelivery>",
                "<ram:SpecifiedLineTradeSettlement>",
                "<ram:ApplicableTradeTax><ram:TypeCode>VAT</ram:TypeCode><ram:CategoryCode>E</ram:CategoryCode>",
                "<ram:RateApplicablePercent>0</ram:RateApplicablePercent></ram:ApplicableTradeTax>",
                "<ram:SpecifiedTradeSettlementLineMonetarySummation><ram:LineTotalAmount>{}</ram:LineTotalAmount>",
                "</ram:SpecifiedTradeSettlementLineMonetarySummation></ram:SpecifiedLineTradeSettlement>",
                "</ram:IncludedSupplyChainTradeLineItem>\n"
            ),
            index + 1,
            esc(&line.name),
            money(line.amount),
            line.count,
            line.count,
            money(line.amount),
        ));
    }
    x.push_str("<ram:ApplicableHeaderTradeAgreement>");
    if let Some(code) = parties.chorus_service_code.as_deref() {
        x.push_str(&format!(
            "<ram:BuyerReference>{}</ram:BuyerReference>",
            esc(code)
        ));
    }
    let seller = &doc.issuer;
    x.push_str(&format!(
        "<ram:SellerTradeParty><ram:Name>{}</ram:Name><ram:SpecifiedLegalOrganization><ram:ID schemeID=\"0002\">{}</ram:ID></ram:SpecifiedLegalOrganization>{}<ram:SpecifiedTaxRegistration><ram:ID schemeID=\"VA\">{}</ram:ID></ram:SpecifiedTaxRegistration></ram:SellerTradeParty>",
        esc(&seller.name),
        esc(&parties.seller_siren),
        address(seller.address.as_deref(), &seller.postcode, &seller.city, &parties.seller_country),
        esc(&parties.seller_vat_number),
    ));
    let buyer = &doc.recipient;
    let legal = buyer
        .siret
        .as_deref()
        .map(|s| format!("<ram:SpecifiedLegalOrganization><ram:ID schemeID=\"0009\">{}</ram:ID></ram:SpecifiedLegalOrganization>", esc(s)))
        .unwrap_or_default();
    x.push_str(&format!(
        "<ram:BuyerTradeParty><ram:Name>{}</ram:Name>{legal}{}</ram:BuyerTradeParty>",
        esc(&buyer.name),
        address(buyer.address.as_deref(), &buyer.postcode, &buyer.city, "FR"),
    ));
    if let Some(engagement) = parties.engagement_number.as_deref() {
        x.push_str(&format!(
            "<ram:BuyerOrderReferencedDocument><ram:IssuerAssignedID>{}</ram:IssuerAssignedID></ram:BuyerOrderReferencedDocument>",
            esc(engagement)
        ));
    }
    x.push_str("</ram:ApplicableHeaderTradeAgreement>\n");
    x.push_str(&format!(
        "<ram:ApplicableHeaderTradeDelivery><ram:ActualDeliverySupplyChainEvent><ram:OccurrenceDateTime>{}</ram:OccurrenceDateTime></ram:ActualDeliverySupplyChainEvent></ram:ApplicableHeaderTradeDelivery>\n",
        date(doc.period_end)
    ));
    x.push_str("<ram:ApplicableHeaderTradeSettlement><ram:InvoiceCurrencyCode>EUR</ram:InvoiceCurrencyCode>");
    if let Some(iban) = parties.seller_iban.as_deref() {
        x.push_str(&format!(
            "<ram:SpecifiedTradeSettlementPaymentMeans><ram:TypeCode>58</ram:TypeCode><ram:PayeePartyCreditorFinancialAccount><ram:IBANID>{}</ram:IBANID></ram:PayeePartyCreditorFinancialAccount></ram:SpecifiedTradeSettlementPaymentMeans>",
            esc(&iban.replace(' ', ""))
        ));
    }
    x.push_str(&format!(
        "<ram:ApplicableTradeTax><ram:CalculatedAmount>0.00</ram:CalculatedAmount><ram:TypeCode>VAT</ram:TypeCode><ram:ExemptionReason>{}</ram:ExemptionReason><ram:BasisAmount>{}</ram:BasisAmount><ram:CategoryCode>E</ram:CategoryCode><ram:RateApplicablePercent>0</ram:RateApplicablePercent></ram:ApplicableTradeTax>",
        esc(EXEMPTION),
        money(a.total)
    ));
    x.push_str(&format!(
        "<ram:BillingSpecifiedPeriod><ram:StartDateTime>{}</ram:StartDateTime><ram:EndDateTime>{}</ram:EndDateTime></ram:BillingSpecifiedPeriod>",
        date(doc.period_start),
        date(doc.period_end)
    ));
    let due_on = doc.issued_on + chrono::Days::new(30);
    x.push_str(&format!(
        "<ram:SpecifiedTradePaymentTerms><ram:Description>Paiement à 30 jours par virement</ram:Description><ram:DueDateDateTime>{}</ram:DueDateDateTime></ram:SpecifiedTradePaymentTerms>",
        date(due_on)
    ));
    x.push_str(&format!(
        concat!(
            "<ram:SpecifiedTradeSettlementHeaderMonetarySummation>",
            "<ram:LineTotalAmount>{total}</ram:LineTotalAmount>",
            "<ram:TaxBasisTotalAmount>{total}</ram:TaxBasisTotalAmount>",
            "<ram:TaxTotalAmount currencyID=\"EUR\">0.00</ram:TaxTotalAmount>",
            "<ram:GrandTotalAmount>{total}</ram:GrandTotalAmount>",
            "<ram:TotalPrepaidAmount>{prepaid}</ram:TotalPrepaidAmount>",
            "<ram:DuePayableAmount>{due}</ram:DuePayableAmount>",
            "</ram:SpecifiedTradeSettlementHeaderMonetarySummation>"
        ),
        total = money(a.total),
        prepaid = money(a.prepaid),
        due = money(a.due),
    ));
    x.push_str("</ram:ApplicableHeaderTradeSettlement>\n</rsm:SupplyChainTradeTransaction>\n</rsm:CrossIndustryInvoice>\n");
    x
}

fn address(line: Option<&str>, postcode: &str, city: &str, country: &str) -> String {
    let line = line
        .filter(|l| !l.trim().is_empty())
        .map(|l| format!("<ram:LineOne>{}</ram:LineOne>", esc(l)))
        .unwrap_or_default();
    format!(
        "<ram:PostalTradeAddress><ram:PostcodeCode>{}</ram:PostcodeCode>{line}<ram:CityName>{}</ram:CityName><ram:CountryID>{}</ram:CountryID></ram:PostalTradeAddress>",
        esc(postcode),
        esc(city),
        esc(country)
    )
}

/// `<udt:DateTimeString format="102">AAAAMMJJ</udt:DateTimeString>`.
fn date(day: NaiveDate) -> String {
    format!(
        "<udt:DateTimeString format=\"102\">{}</udt:DateTimeString>",
        day.format("%Y%m%d")
    )
}

/// `1234.50`.
fn money(value: Decimal) -> String {
    format!("{:.2}", value.round_dp(2))
}

/// Text escaped for XML, control characters dropped.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The Factur-X part of the XMP metadata: the `fx` properties and the PDF/A
/// extension schema that declares them (to go inside `pdfaExtension:schemas`).
pub fn xmp_extension() -> (&'static str, &'static str) {
    let properties = concat!(
        "<rdf:Description rdf:about=\"\" xmlns:fx=\"urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#\">",
        "<fx:DocumentType>INVOICE</fx:DocumentType>",
        "<fx:DocumentFileName>factur-x.xml</fx:DocumentFileName>",
        "<fx:Version>1.0</fx:Version>",
        "<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>",
        "</rdf:Description>"
    );
    let schema = concat!(
        "<rdf:li rdf:parseType=\"Resource\">",
        "<pdfaSchema:schema>Factur-X PDFA Extension Schema</pdfaSchema:schema>",
        "<pdfaSchema:namespaceURI>urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#</pdfaSchema:namespaceURI>",
        "<pdfaSchema:prefix>fx</pdfaSchema:prefix>",
        "<pdfaSchema:property><rdf:Seq>",
        "<rdf:li rdf:parseType=\"Resource\"><pdfaProperty:name>DocumentFileName</pdfaProperty:name><pdfaProperty:valueType>Text</pdfaProperty:valueType><pdfaProperty:category>external</pdfaProperty:category><pdfaProperty:description>The name of the embedded XML document</pdfaProperty:description></rdf:li>",
        "<rdf:li rdf:parseType=\"Resource\"><pdfaProperty:name>DocumentType</pdfaProperty:name><pdfaProperty:valueType>Text</pdfaProperty:valueType><pdfaProperty:category>external</pdfaProperty:category><pdfaProperty:description>The type of the hybrid document in capital letters, e.g. INVOICE or ORDER</pdfaProperty:description></rdf:li>",
        "<rdf:li rdf:parseType=\"Resource\"><pdfaProperty:name>Version</pdfaProperty:name><pdfaProperty:valueType>Text</pdfaProperty:valueType><pdfaProperty:category>external</pdfaProperty:category><pdfaProperty:description>The actual version of the standard applying to the embedded XML document</pdfaProperty:description></rdf:li>",
        "<rdf:li rdf:parseType=\"Resource\"><pdfaProperty:name>ConformanceLevel</pdfaProperty:name><pdfaProperty:valueType>Text</pdfaProperty:valueType><pdfaProperty:category>external</pdfaProperty:category><pdfaProperty:description>The conformance level of the embedded XML document</pdfaProperty:description></rdf:li>",
        "</rdf:Seq></pdfaSchema:property>",
        "</rdf:li>"
    );
    (properties, schema)
}
