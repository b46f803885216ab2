"""The words mail clients write around quoted history, one table per language (data).

:mod:`refmail.mail.reply` reads the new text of a reply by finding where the
quoted history starts and where the signature begins. Clients mark both with
fixed, localised phrases — Gmail's ``On … wrote:``, Outlook's
``-----Original Message-----`` and its ``From:/Sent:/To:/Subject:`` block, Apple
Mail's ``Begin forwarded message:``, phone footers such as ``Sent from my
iPhone`` — and people close with sign-offs such as ``Best regards`` or
``Med venlig hilsen``. Those phrases live here, one :class:`Words` row per
language, so adding a language or a client's wording is adding a string, never
a regex spread over functions.

The strings are the ones the clients really write (Gmail, Outlook desktop, web
and mobile, Apple Mail, Thunderbird, Samsung/Android, Yahoo, mail.ru, Zoho),
as plain text: :mod:`refmail.mail.reply` escapes and compiles them once, matching
case-insensitively. A ``…`` in a :attr:`Words.sent_from` phrase stands for the
device or app name ("Von meinem … gesendet",); a phrase without it is followed
by the name ("Sent from my …",).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["LANGUAGES", "Words", "all_of"]


@dataclass(frozen=True)
class Words:
    """What one language's mail clients write around quoted history.

    ``wrote``: the verb that ends an attribution line ("wrote", "schrieb",
    "a écrit", "написал(а)"); ``openers``: the word an attribution begins with
    ("On", "Am", "Le", "W dniu"). ``labels``: Outlook header block labels by
    field (``from``, ``sent``, ``to``, ``cc``, ``subject``, and ``other`` for
    Bcc, Reply-To and the like); a block needs a ``from`` label.
    ``separators``: the text between the dashes of an "original message" rule;
    ``forwarded``: the same for a "forwarded message" rule. ``forward_intros``:
    a line that opens a forwarded message and ends with ``:`` (Apple Mail).
    ``sent_from``: phone and app footers. ``sign_offs``: closing formulas that
    start a signature block; ``thanks``: sign-offs that are also thanks
    ("Thanks,", "Merci"), which start one only with a name under them or a
    comma after them. ``forward_prefixes``: what a forward's subject starts
    with ("Fwd:", "WG:", "VB:", "PD:").
    """

    lang: str
    wrote: tuple[str, ...] = ()
    openers: tuple[str, ...] = ()
    labels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    separators: tuple[str, ...] = ()
    forwarded: tuple[str, ...] = ()
    forward_intros: tuple[str, ...] = ()
    sent_from: tuple[str, ...] = ()
    sign_offs: tuple[str, ...] = ()
    thanks: tuple[str, ...] = ()
    forward_prefixes: tuple[str, ...] = ()


LANGUAGES: tuple[Words, ...] = (
    Words(
        "en",
        wrote=("wrote", "writes", "has written"),
        openers=("On",),
        labels={
            "from": ("From",),
            "sent": ("Sent", "Date", "Sent on"),
            "to": ("To",),
            "cc": ("Cc",),
            "subject": ("Subject",),
            "other": ("Bcc", "Reply-To"),
        },
        separators=("Original Message", "Original Mail", "Reply message", "Original"),
        forwarded=("Forwarded message", "Forwarded Message", "Forwarded mail"),
        forward_intros=("Begin forwarded message", "Forwarded message"),
        sent_from=("Sent from my", "Sent from", "Sent with", "Sent via", "Sent using", "Sent on my",
                   "Get Outlook for", "Sent from Mail for Windows", "Sent from Yahoo Mail for"),
        sign_offs=("Regards", "Best regards", "Kind regards", "Warm regards", "Warmest regards",
                   "Many regards", "With regards", "With best regards", "Best", "Best wishes",
                   "All the best", "Cheers", "Sincerely", "Yours", "Yours truly", "Yours sincerely",
                   "Take care",
                   "Talk soon", "Speak soon", "Have a great day", "BR"),
        thanks=("Thanks", "Thank you", "Many thanks", "Thanks again", "Thx"),
        forward_prefixes=("Fwd", "Fw"),
    ),
    Words(
        "de",
        wrote=("schrieb", "hat geschrieben", "schreibt"),
        openers=("Am",),
        labels={
            "from": ("Von", "Absender"),
            "sent": ("Gesendet", "Datum", "Gesendet am"),
            "to": ("An", "Empfänger"),
            "cc": ("Cc", "Kopie"),
            "subject": ("Betreff",),
            "other": ("Antwort an", "Bcc"),
        },
        separators=("Ursprüngliche Nachricht", "Originalnachricht", "Original-Nachricht",
                    "Ursprüngliche Mail"),
        forwarded=("Weitergeleitete Nachricht",),
        forward_intros=("Anfang der weitergeleiteten Nachricht", "Anfang der weitergeleiteten E-Mail"),
        sent_from=("Von meinem … gesendet", "Gesendet von meinem", "Gesendet von", "Gesendet mit",
                   "Gesendet vom", "Outlook für … beziehen", "Holen Sie sich Outlook für"),
        sign_offs=("Mit freundlichen Grüßen", "Mit freundlichen Grüssen", "Freundliche Grüße",
                   "Freundliche Grüsse", "Viele Grüße", "Viele Grüsse", "Beste Grüße", "Beste Grüsse",
                   "Liebe Grüße", "Liebe Grüsse", "Herzliche Grüße", "Herzliche Grüsse",
                   "Schöne Grüße", "Schöne Grüsse", "Grüße", "Grüsse", "Gruß", "Gruss", "MfG", "LG",
                   "VG", "Bis bald"),
        thanks=("Danke", "Vielen Dank", "Besten Dank"),
        forward_prefixes=("WG", "Wtr"),
    ),
    Words(
        "es",
        wrote=("escribió", "escribio", "ha escrito"),
        openers=("El",),
        labels={
            "from": ("De", "Remitente"),
            "sent": ("Enviado", "Enviada", "Fecha", "Enviado el"),
            "to": ("Para", "Destinatario"),
            "cc": ("CC",),
            "subject": ("Asunto",),
            "other": ("CCO", "Responder a"),
        },
        separators=("Mensaje original", "Correo original"),
        forwarded=("Mensaje reenviado",),
        forward_intros=("Inicio del mensaje reenviado", "Comienzo del mensaje reenviado"),
        sent_from=("Enviado desde mi", "Enviado desde", "Enviado con", "Obtener Outlook para"),
        sign_offs=("Saludos", "Un saludo", "Saludos cordiales", "Atentamente", "Cordialmente",
                   "Un abrazo", "Abrazos", "Un cordial saludo"),
        thanks=("Muchas gracias", "Gracias"),
        forward_prefixes=("RV", "Reenviar"),
    ),
    Words(
        "fr",
        wrote=("a écrit", "a ecrit", "écrit", "a écrit le"),
        openers=("Le",),
        labels={
            "from": ("De", "Expéditeur"),
            "sent": ("Envoyé", "Date", "Envoyé le", "Message du"),
            "to": ("À", "A", "Pour", "Destinataire"),
            "cc": ("Cc", "Copie à"),
            "subject": ("Objet", "Sujet"),
            "other": ("Cci", "Répondre à"),
        },
        separators=("Message d'origine", "Message original", "Courriel original", "Message initial",
                    "Mail original"),
        forwarded=("Message transféré",),
        forward_intros=("Début du message réexpédié", "Début du message transféré"),
        sent_from=("Envoyé de mon", "Envoyé depuis mon", "Envoyé depuis", "Envoyé à partir de",
                   "Envoyé avec", "Télécharger Outlook pour", "Obtenir Outlook pour"),
        sign_offs=("Cordialement", "Bien cordialement", "Très cordialement", "Bien à vous",
                   "Salutations", "Sincères salutations", "Meilleures salutations", "Bonne journée",
                   "Bonne soirée", "Amitiés", "Bises", "À bientôt"),
        thanks=("Merci", "Merci beaucoup"),
        forward_prefixes=("TR", "Fwd"),
    ),
    Words(
        "it",
        wrote=("ha scritto", "scrive", "ha scritto il"),
        openers=("Il", "Il giorno"),
        labels={
            "from": ("Da", "Mittente"),
            "sent": ("Inviato", "Data", "Inviato il"),
            "to": ("A", "Destinatario"),
            "cc": ("Cc",),
            "subject": ("Oggetto", "Ogg"),
            "other": ("Ccn", "Rispondi a"),
        },
        separators=("Messaggio originale", "Mail originale"),
        forwarded=("Messaggio inoltrato",),
        forward_intros=("Inizio messaggio inoltrato", "Messaggio inoltrato"),
        sent_from=("Inviato da", "Inviato dal mio", "Inviato con", "Scarica Outlook per"),
        sign_offs=("Cordiali saluti", "Distinti saluti", "Saluti", "Un saluto", "Saluti cordiali",
                   "Buona giornata", "A presto", "Un caro saluto"),
        thanks=("Grazie", "Grazie mille"),
        forward_prefixes=("I", "Inoltra"),
    ),
    Words(
        "pt",
        wrote=("escreveu",),
        openers=("Em", "No dia"),
        labels={
            "from": ("De", "Remetente"),
            "sent": ("Enviado", "Enviada", "Data", "Enviado em"),
            "to": ("Para",),
            "cc": ("Cc",),
            "subject": ("Assunto",),
            "other": ("Cco", "Responder para"),
        },
        separators=("Mensagem original",),
        forwarded=("Mensagem encaminhada",),
        forward_intros=("Início da mensagem encaminhada", "Início da mensagem reencaminhada"),
        sent_from=("Enviado do meu", "Enviado do", "Enviado de meu", "Enviado a partir do",
                   "Obter o Outlook para"),
        sign_offs=("Atenciosamente", "Cumprimentos", "Com os melhores cumprimentos", "Abraços",
                   "Um abraço", "Abraço", "Saudações", "Att", "Beijos"),
        thanks=("Obrigado", "Obrigada"),
        forward_prefixes=("ENC", "Enc"),
    ),
    Words(
        "nl",
        wrote=("schreef", "het volgende geschreven", "heeft geschreven"),
        openers=("Op",),
        labels={
            "from": ("Van", "Afzender"),
            "sent": ("Verzonden", "Datum", "Verstuurd"),
            "to": ("Aan",),
            "cc": ("Cc",),
            "subject": ("Onderwerp",),
            "other": ("Bcc", "Beantwoorden"),
        },
        separators=("Oorspronkelijk bericht", "Origineel bericht"),
        forwarded=("Doorgestuurd bericht",),
        forward_intros=("Begin doorgestuurd bericht", "Doorgestuurd bericht"),
        sent_from=("Verzonden vanaf mijn", "Verzonden vanaf", "Verstuurd vanaf mijn", "Verstuurd vanaf",
                   "Verzonden met", "Outlook voor … downloaden", "Download Outlook voor"),
        sign_offs=("Met vriendelijke groet", "Met vriendelijke groeten", "Vriendelijke groet",
                   "Vriendelijke groeten", "Hartelijke groet", "Hartelijke groeten", "Groeten",
                   "Groet", "Mvg", "Gr", "Tot snel"),
        thanks=("Bedankt", "Dank je wel", "Dank u wel"),
        forward_prefixes=("Doorst", "FW"),
    ),
    Words(
        "da",
        wrote=("skrev",),
        openers=("Den",),
        labels={
            "from": ("Fra",),
            "sent": ("Sendt", "Dato"),
            "to": ("Til",),
            "cc": ("Cc", "Kopi"),
            "subject": ("Emne",),
            "other": ("Bcc",),
        },
        separators=("Oprindelig meddelelse", "Oprindelig besked"),
        forwarded=("Videresendt meddelelse", "Videresendt besked"),
        forward_intros=("Start på videresendt besked", "Videresendt besked"),
        sent_from=("Sendt fra min", "Sendt fra", "Hent Outlook til"),
        sign_offs=("Med venlig hilsen", "Venlig hilsen", "Mvh", "Vh", "Hilsen", "Kh", "Knus",
                   "Bedste hilsner", "De bedste hilsner", "Kærlig hilsen"),
        thanks=("Tak",),
        forward_prefixes=("VS", "Videresend"),
    ),
    Words(
        "no",
        wrote=("skrev",),
        openers=("Den",),
        labels={
            "from": ("Fra",),
            "sent": ("Sendt", "Dato"),
            "to": ("Til",),
            "cc": ("Kopi", "Cc"),
            "subject": ("Emne",),
        },
        separators=("Opprinnelig melding", "Original melding"),
        forwarded=("Videresendt melding",),
        forward_intros=("Videresendt melding", "Start på videresendt melding"),
        sent_from=("Sendt fra min", "Sendt fra", "Hent Outlook for"),
        sign_offs=("Med vennlig hilsen", "Vennlig hilsen", "Mvh", "Hilsen", "Beste hilsen"),
        thanks=("Takk",),
        forward_prefixes=("VS", "VB"),
    ),
    Words(
        "sv",
        wrote=("skrev",),
        openers=("Den",),
        labels={
            "from": ("Från", "Avsändare"),
            "sent": ("Skickat", "Datum"),
            "to": ("Till",),
            "cc": ("Kopia", "Cc"),
            "subject": ("Ämne",),
        },
        separators=("Ursprungligt meddelande", "Originalmeddelande"),
        forwarded=("Vidarebefordrat meddelande",),
        forward_intros=("Vidarebefordrat brev", "Vidarebefordrat mejl",
                        "Början av vidarebefordrat meddelande"),
        sent_from=("Skickat från min", "Skickat från", "Hämta Outlook för"),
        sign_offs=("Med vänliga hälsningar", "Vänliga hälsningar", "Vänlig hälsning", "Hälsningar",
                   "Bästa hälsningar", "Mvh"),
        thanks=("Tack",),
        forward_prefixes=("VB", "Vb"),
    ),
    Words(
        "fi",
        wrote=("kirjoitti",),
        labels={
            "from": ("Lähettäjä",),
            "sent": ("Lähetetty", "Päivämäärä"),
            "to": ("Vastaanottaja",),
            "cc": ("Kopio",),
            "subject": ("Aihe",),
        },
        separators=("Alkuperäinen viesti",),
        forwarded=("Välitetty viesti",),
        forward_intros=("Välitetty viesti alkaa",),
        sent_from=("Lähetetty iPhonesta", "Lähetetty …sta", "Hanki Outlook for"),
        sign_offs=("Ystävällisin terveisin", "Terveisin", "Parhain terveisin"),
        thanks=("Kiitos",),
        forward_prefixes=("VL", "VS"),
    ),
    Words(
        "pl",
        wrote=("napisał(a)", "napisał", "napisała", "pisze", "nadesłał"),
        openers=("W dniu", "Dnia"),
        labels={
            "from": ("Od", "Nadawca"),
            "sent": ("Wysłano", "Data", "Wysłane"),
            "to": ("Do", "Adresat"),
            "cc": ("DW", "Kopia"),
            "subject": ("Temat",),
        },
        separators=("Oryginalna wiadomość", "Wiadomość oryginalna"),
        forwarded=("Przekazana wiadomość", "Przesłana wiadomość"),
        forward_intros=("Początek przekazanej wiadomości",),
        sent_from=("Wysłano z mojego", "Wysłano z", "Wysłane z mojego", "Wysłane z"),
        sign_offs=("Pozdrawiam", "Z poważaniem", "Z powazaniem", "Pozdrowienia", "Serdecznie pozdrawiam",
                   "Serdeczne pozdrowienia", "Z wyrazami szacunku", "Pozdr"),
        thanks=("Dziękuję",),
        forward_prefixes=("PD", "Fwd"),
    ),
    Words(
        "cs",
        wrote=("napsal(a)", "napsal", "napsala"),
        openers=("Dne",),
        labels={
            "from": ("Od",),
            "sent": ("Odesláno", "Datum"),
            "to": ("Komu",),
            "cc": ("Kopie",),
            "subject": ("Předmět",),
        },
        separators=("Původní zpráva", "Původní e-mail"),
        forwarded=("Přeposlaná zpráva",),
        sent_from=("Odesláno z mého", "Odesláno z"),
        sign_offs=("S pozdravem", "S úctou", "Se srdečným pozdravem"),
        thanks=("Děkuji", "Děkujeme"),
        forward_prefixes=("FW", "Fwd"),
    ),
    Words(
        "ru",
        wrote=("написал(а)", "написал", "написала", "пишет", "писал"),
        labels={
            "from": ("От", "Отправитель"),
            "sent": ("Отправлено", "Дата", "Отправлен"),
            "to": ("Кому",),
            "cc": ("Копия",),
            "subject": ("Тема",),
        },
        separators=("Исходное сообщение", "Оригинальное сообщение"),
        forwarded=("Пересылаемое сообщение", "Перенаправленное сообщение"),
        forward_intros=("Начало переадресованного сообщения",),
        sent_from=("Отправлено с", "Отправлено из", "Отправлено с моего"),
        sign_offs=("С уважением", "С наилучшими пожеланиями", "Всего доброго", "Всего наилучшего"),
        thanks=("Спасибо",),
        forward_prefixes=("Пересл", "Fwd"),
    ),
    Words(
        "uk",
        wrote=("пише", "написав", "написала", "написав(ла)"),
        labels={
            "from": ("Від",),
            "sent": ("Надіслано", "Дата"),
            "to": ("Кому",),
            "cc": ("Копія",),
            "subject": ("Тема",),
        },
        separators=("Вихідне повідомлення", "Оригінальне повідомлення"),
        forwarded=("Переслане повідомлення",),
        sent_from=("Надіслано з", "Надіслано з мого"),
        sign_offs=("З повагою", "З найкращими побажаннями"),
        thanks=("Дякую",),
        forward_prefixes=("Пересл",),
    ),
    Words(
        "hu",
        wrote=("ezt írta", "írta"),
        labels={
            "from": ("Feladó",),
            "sent": ("Küldve", "Dátum", "Elküldve"),
            "to": ("Címzett",),
            "cc": ("Másolat",),
            "subject": ("Tárgy",),
        },
        separators=("Eredeti üzenet",),
        forwarded=("Továbbított levél", "Továbbított üzenet"),
        sent_from=("…ról küldve", "…ről küldve"),
        sign_offs=("Üdvözlettel", "Tisztelettel", "Üdv"),
        thanks=("Köszönöm", "Köszönettel"),
        forward_prefixes=("Tov", "Továbbítás"),
    ),
    Words(
        "ca",
        wrote=("va escriure", "ha escrit"),
        openers=("El",),
        labels={
            "from": ("De",),
            "sent": ("Enviat", "Data"),
            "to": ("Per a", "A"),
            "cc": ("A/c", "Cc"),
            "subject": ("Assumpte", "Tema"),
        },
        separators=("Missatge original",),
        forwarded=("Missatge reenviat",),
        forward_intros=("Inici del missatge reenviat",),
        sent_from=("Enviat des del meu", "Enviat des de"),
        sign_offs=("Salutacions", "Cordialment", "Atentament", "Una abraçada"),
        thanks=("Gràcies",),
        forward_prefixes=("RV", "Reenv"),
    ),
    Words(
        "tr",
        wrote=("şunu yazdı", "yazdı"),
        labels={
            "from": ("Kimden",),
            "sent": ("Gönderildi", "Tarih", "Gönderim"),
            "to": ("Kime",),
            "cc": ("Bilgi",),
            "subject": ("Konu",),
        },
        separators=("Orijinal Mesaj", "İletilen ileti", "Özgün ileti"),
        sent_from=("… gönderildi",),
        sign_offs=("Saygılarımla", "İyi çalışmalar"),
        thanks=("Teşekkürler",),
        forward_prefixes=("İlt", "Fwd"),
    ),
    Words(
        "vi",
        wrote=("đã viết", "viết"),
        openers=("Vào",),
        labels={"from": ("Từ",), "sent": ("Đã gửi", "Ngày"), "to": ("Đến",), "subject": ("Chủ đề",)},
        separators=("Thư gốc",),
        forwarded=("Thư chuyển tiếp",),
        sign_offs=("Trân trọng",),
        forward_prefixes=("Chuyển tiếp",),
    ),
    Words(
        "zh",
        wrote=("写道", "寫道"),
        openers=("在",),
        labels={
            "from": ("发件人", "寄件者", "發件人"),
            "sent": ("发送时间", "日期", "傳送時間", "寄件日期", "時間"),
            "to": ("收件人", "收件者"),
            "cc": ("抄送", "副本"),
            "subject": ("主题", "主旨", "主題"),
        },
        separators=("原始邮件", "原始郵件", "原始信件"),
        forwarded=("转发的邮件", "轉寄的郵件"),
        forward_intros=("以下是转发的邮件", "开始转发的邮件", "開始轉寄的郵件"),
        sent_from=("从我的 … 发送", "發自我的", "发自我的", "来自我的"),
        sign_offs=("此致", "敬礼", "祝好", "顺祝商祺"),
        thanks=("谢谢",),
        forward_prefixes=("转发", "轉寄", "Fwd"),
    ),
    Words(
        "ja",
        wrote=("のメール", "は書きました", "wrote"),
        labels={
            "from": ("差出人", "送信者"),
            "sent": ("送信日時", "日付"),
            "to": ("宛先",),
            "cc": ("CC",),
            "subject": ("件名",),
        },
        separators=("元のメッセージ", "Original Message"),
        forwarded=("転送メッセージ",),
        forward_intros=("転送されたメッセージ", "転送メッセージ"),
        sent_from=("… から送信",),
        sign_offs=(),
        forward_prefixes=("転送", "Fw"),
    ),
    Words(
        "ko",
        wrote=("님이 작성", "님이 작성하였습니다", "작성"),
        labels={
            "from": ("보낸 사람", "보낸사람"),
            "sent": ("보낸 날짜", "날짜"),
            "to": ("받는 사람", "받는사람"),
            "cc": ("참조",),
            "subject": ("제목",),
        },
        separators=("원본 메시지",),
        forwarded=("전달된 메시지",),
        forward_intros=("전달된 메시지",),
        sent_from=("내 … 에서 보냄", "… 에서 보냄"),
        sign_offs=(),
        thanks=("감사합니다",),
        forward_prefixes=("전달", "Fw"),
    ),
)


def all_of(part: str) -> list[str]:
    """Every string of one field (``"wrote"``, ``"sign_offs"`` …) across the languages,
    longest first (so alternations try "Best regards" before "Best"), without repeats."""
    seen: dict[str, None] = {}
    for words in LANGUAGES:
        value = getattr(words, part)
        items = [v for vs in value.values() for v in vs] if isinstance(value, dict) else list(value)
        for item in items:
            seen.setdefault(item, None)
    return sorted(seen, key=lambda s: (-len(s), s))


def labels_of(kind: str) -> list[str]:
    """Every header label of one field (``"from"``, ``"sent"`` …), longest first."""
    seen: dict[str, None] = {}
    for words in LANGUAGES:
        for item in words.labels.get(kind, ()):
            seen.setdefault(item, None)
    return sorted(seen, key=lambda s: (-len(s), s))
