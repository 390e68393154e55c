"""Reads a Factur-X PDF with the `factur-x` package (not the project's code) and
prints what it found as JSON: the embedded XML checked against the Factur-X XSD of
profile EN 16931, its key fields and amounts, and the PDF's attachment and XMP
metadata (PDF/A part and conformance, the fx properties).

Usage: python facturx_check.py FILE.pdf   (exit 1 with a message when invalid)
"""
import json
import sys
from io import BytesIO

from facturx import get_facturx_xml_from_pdf, get_level, xml_check_xsd
from lxml import etree
from pypdf import PdfReader

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
RDF = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "pdfaid": "http://www.aiim.org/pdfa/ns/id/",
    "fx": "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#",
}


def text(tree, path, ns=NS):
    found = tree.xpath(path, namespaces=ns)
    return found[0].strip() if found else None


def main(path):
    pdf = open(path, "rb").read()
    name, xml = get_facturx_xml_from_pdf(pdf, check_xsd=True)
    tree = etree.fromstring(xml)
    xml_check_xsd(tree, flavor="factur-x", level="en16931")
    sums = "//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:"
    reader = PdfReader(BytesIO(pdf))
    root = reader.trailer["/Root"]
    specs = [a.get_object() for a in root.get("/AF", [])]
    xmp = etree.fromstring(root["/Metadata"].get_object().get_data())
    line_totals = tree.xpath(
        "//ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount/text()",
        namespaces=NS,
    )
    print(json.dumps({
        "file_name": name,
        "level": get_level(tree),
        "guideline": text(tree, "//ram:GuidelineSpecifiedDocumentContextParameter/ram:ID/text()"),
        "number": text(tree, "/rsm:CrossIndustryInvoice/rsm:ExchangedDocument/ram:ID/text()"),
        "type_code": text(tree, "/rsm:CrossIndustryInvoice/rsm:ExchangedDocument/ram:TypeCode/text()"),
        "seller_siren": text(tree, "//ram:SellerTradeParty/ram:SpecifiedLegalOrganization/ram:ID/text()"),
        "seller_vat": text(tree, "//ram:SellerTradeParty/ram:SpecifiedTaxRegistration/ram:ID/text()"),
        "buyer_name": text(tree, "//ram:BuyerTradeParty/ram:Name/text()"),
        "buyer_siret": text(tree, "//ram:BuyerTradeParty/ram:SpecifiedLegalOrganization/ram:ID/text()"),
        "buyer_reference": text(tree, "//ram:ApplicableHeaderTradeAgreement/ram:BuyerReference/text()"),
        "order_reference": text(tree, "//ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID/text()"),
        "line_totals": line_totals,
        "line_total": text(tree, sums + "LineTotalAmount/text()"),
        "grand_total": text(tree, sums + "GrandTotalAmount/text()"),
        "prepaid": text(tree, sums + "TotalPrepaidAmount/text()"),
        "due": text(tree, sums + "DuePayableAmount/text()"),
        "attachments": [
            {"name": str(s.get("/F")), "relationship": str(s.get("/AFRelationship"))}
            for s in specs
        ],
        "pdfa_part": text(xmp, "//@pdfaid:part | //pdfaid:part/text()", RDF),
        "pdfa_conformance": text(xmp, "//@pdfaid:conformance | //pdfaid:conformance/text()", RDF),
        "fx_level": text(xmp, "//fx:ConformanceLevel/text()", RDF),
        "fx_file": text(xmp, "//fx:DocumentFileName/text()", RDF),
        "fx_type": text(xmp, "//fx:DocumentType/text()", RDF),
        "pdf_header": pdf[:8].decode("latin-1"),
    }))


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except Exception as error:  # the test shows the message
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
