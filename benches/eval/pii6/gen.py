#!/usr/bin/env python3
"""Generates the pii6 evaluation set (benches/eval/pii6/prompts.jsonl).

Prompts in six languages (en, de, fr, es, it, sl) built from hand-written templates of support
tickets, CRM notes, e-mail threads, chat exports and forms. Every personal value is labelled
with its UTF-8 byte span. Templates and name pools marked "heldout" were written before the
recognizers and never used while tuning them; the evaluator reports them separately.

Run: python3 benches/eval/pii6/gen.py  (deterministic, seed 2206)
"""
import json, random, os

R = random.Random(2206)

# ---- checksummed identifiers -------------------------------------------------------------
def de_taxid():
    while True:
        first = R.randint(1, 9)
        rest = list(range(10)); R.shuffle(rest)
        digits = [first] + [d for d in rest if d != first][:8]
        rep = R.choice(digits)
        digits.insert(R.randint(1, 9), rep)
        digits = digits[:10]
        counts = [digits.count(d) for d in set(digits)]
        if digits[0] == 0 or sorted(counts)[-1] not in (2, 3) or sum(1 for c in counts if c > 1) != 1:
            continue
        product = 10
        for d in digits:
            s = (d + product) % 10 or 10
            product = (2 * s) % 11
        check = (11 - product) % 10
        s = ''.join(map(str, digits + [check]))
        return R.choice([s, f"{s[:2]} {s[2:5]} {s[5:8]} {s[8:]}"])

def fr_insee():
    sex = R.choice('12'); yy = f"{R.randint(40, 99):02d}"; mm = f"{R.randint(1, 12):02d}"
    dep = f"{R.choice([75, 69, 13, 33, 59, 31, 44, 67]):02d}"; com = f"{R.randint(1, 299):03d}"; order = f"{R.randint(1, 999):03d}"
    n = sex + yy + mm + dep + com + order
    key = f"{97 - int(n) % 97:02d}"
    return R.choice([n + key, f"{sex} {yy} {mm} {dep} {com} {order} {key}"])

def es_dni():
    n = R.randint(10000000, 99999999)
    return f"{n}{'TRWAGMYFPDXBNJZSQVHLCKE'[n % 23]}"

def es_nie():
    p = R.choice('XYZ'); n = R.randint(1000000, 9999999)
    v = int(str('XYZ'.index(p)) + str(n))
    return f"{p}{n}{'TRWAGMYFPDXBNJZSQVHLCKE'[v % 23]}"

ODD = dict(zip("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
               [1,0,5,7,9,13,15,17,19,21,1,0,5,7,9,13,15,17,19,21,2,4,18,20,11,3,6,8,12,14,16,10,22,25,24,23]))
def even(c): return int(c) if c.isdigit() else ord(c) - 65
def it_cf():
    L = "BCDFGLMNPRSTVZ"; V = "AEIOU"
    s = ''.join(R.choice(L) for _ in range(3)) + ''.join(R.choice(L + V) for _ in range(3))
    s += f"{R.randint(40, 99)}" + R.choice("ABCDEHLMPRST") + f"{R.choice([R.randint(1, 31), R.randint(41, 71)]):02d}"
    s += R.choice("ABCDEFGHLMZ") + f"{R.randint(1, 999):03d}"
    t = sum(ODD[c] if i % 2 == 0 else even(c) for i, c in enumerate(s))
    return s + chr(65 + t % 26)

def uk_nino():
    a = R.choice("ABCEGHJKLMNOPRSTWXYZ"); b = R.choice("ABCEGHJKLMNPRSTWXYZ")
    if a + b in ("BG", "GB", "NK", "KN", "TN", "NT", "ZZ"): a, b = "A", "B"
    d = f"{R.randint(0, 999999):06d}"; s = R.choice("ABCD")
    return R.choice([f"{a}{b}{d}{s}", f"{a}{b} {d[:2]} {d[2:4]} {d[4:]} {s}"])

def si_emso():
    while True:
        dd = R.randint(1, 28); mm = R.randint(1, 12); yyy = R.choice([R.randint(940, 999), R.randint(0, 5)])
        s = f"{dd:02d}{mm:02d}{yyy:03d}50{R.randint(0, 999):03d}"
        w = [7, 6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2]
        m = 11 - sum(int(c) * x for c, x in zip(s, w)) % 11
        if m == 10: continue
        return s + str(0 if m == 11 else m)

def luhn_card():
    p = R.choice(["4", "51", "52", "37", "6011"]); n = 15 if p == "37" else 16
    body = p + ''.join(str(R.randint(0, 9)) for _ in range(n - len(p) - 1))
    t = 0
    for i, c in enumerate(reversed(body)):
        d = int(c)
        if i % 2 == 0:
            d *= 2
            if d > 9: d -= 9
        t += d
    s = body + str((10 - t % 10) % 10)
    return R.choice([s, ' '.join(s[i:i + 4] for i in range(0, len(s), 4))])

# ---- names ------------------------------------------------------------------------------
NAMES = {
 'en': (["James", "Emily", "Michael", "Sarah", "David", "Jessica", "Olivia", "Daniel", "Megan", "Robert", "Hannah", "Thomas", "Laura", "Kevin", "Rachel"],
        ["Smith", "Johnson", "Brown", "Taylor", "Wilson", "Clarke", "Walker", "Hughes", "Turner", "Bennett", "Murphy", "Collins", "Foster", "Reid", "Palmer"]),
 'de': (["Lukas", "Anna", "Jonas", "Lena", "Felix", "Sophie", "Maximilian", "Katharina", "Tobias", "Julia", "Stefan", "Sabine", "Jürgen", "Ursula", "Matthias"],
        ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Hoffmann", "Schäfer", "Koch", "Richter", "Klein", "Wolf", "Neumann"]),
 'fr': (["Camille", "Louis", "Manon", "Hugo", "Chloé", "Théo", "Léa", "Nicolas", "Julie", "Antoine", "Élodie", "Mathieu", "Céline", "Pierre", "Aurélie"],
        ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia"]),
 'es': (["Lucía", "Hugo", "Martina", "Pablo", "Sofía", "Alejandro", "Carmen", "Javier", "Elena", "Sergio", "Marta", "Diego", "Paula", "Álvaro", "Nuria"],
        ["García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Martín", "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno"]),
 'it': (["Giulia", "Francesco", "Chiara", "Alessandro", "Martina", "Lorenzo", "Sara", "Matteo", "Federica", "Andrea", "Valentina", "Marco", "Elisa", "Davide", "Silvia"],
        ["Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco", "Bruno", "Gallo", "Conti", "De Luca", "Mancini"]),
 'sl': (["Luka", "Nina", "Jan", "Eva", "Žiga", "Maja", "Nejc", "Ana", "Matej", "Tjaša", "Rok", "Urška", "Gregor", "Petra", "Anže"],
        ["Novak", "Horvat", "Kovačič", "Krajnc", "Zupančič", "Potočnik", "Kovač", "Mlakar", "Kos", "Vidmar", "Golob", "Turk", "Božič", "Kralj", "Zupan"]),
}
# Held-out names, picked to be rarer: many are absent from the gazetteers.
NAMES_HELDOUT = {
 'en': (["Tamsin", "Declan", "Rhiannon", "Callum", "Imogen", "Fergus"], ["Ashworth", "Pemberton", "Quigley", "Thistlewood", "Okafor", "Brannigan"]),
 'de': (["Wiebke", "Jannik", "Frauke", "Ole", "Hauke", "Gesine"], ["Brinkmann", "Oltmanns", "Rademacher", "Tiedemann", "Hinrichsen", "Wöhlk"]),
 'fr': (["Maëlys", "Gwenaël", "Solène", "Anatole", "Clémence", "Yannick"], ["Le Goff", "Kerbrat", "Delacroix", "Quéméner", "Bouvier", "Fauchard"]),
 'es': (["Itziar", "Iker", "Ainhoa", "Xabier", "Begoña", "Unai"], ["Etxeberria", "Urrutia", "Goikoetxea", "Zubiri", "Arrieta", "Olaizola"]),
 'it': (["Ludovica", "Tancredi", "Ginevra", "Ottavio", "Benedetta", "Corrado"], ["Squillaci", "Bortolotti", "Pellizzari", "Zanardelli", "Cusumano", "Trevisan"]),
 'sl': (["Špela", "Klemen", "Pia", "Blaž", "Lucija", "Jakob"], ["Šuštaršič", "Pečovnik", "Jereb", "Bizjak", "Vrhovnik", "Štrukelj"]),
}

def person(lang, held):
    g, s = (NAMES_HELDOUT if held else NAMES)[lang]
    return R.choice(g), R.choice(s)

# ---- addresses / dates ------------------------------------------------------------------
CITIES = {'en': ["Leeds", "Bristol", "Boston", "Denver"], 'de': ["Berlin", "München", "Köln", "Hamburg"],
          'fr': ["Paris", "Lyon", "Nantes", "Lille"], 'es': ["Madrid", "Sevilla", "Valencia", "Bilbao"],
          'it': ["Roma", "Milano", "Torino", "Bologna"], 'sl': ["Ljubljana", "Maribor", "Celje", "Koper"]}

def address(lang):
    n = R.randint(1, 240)
    if lang == 'en':
        if R.random() < 0.5:
            return f"{n} {R.choice(['Oak', 'Maple', 'Harbour', 'Station', 'Church'])} {R.choice(['Street', 'Road', 'Lane', 'Avenue'])}, {R.choice(['Leeds', 'Bristol'])} {R.choice(['LS1 4AP', 'BS8 1TH', 'LS6 2QT'])}"
        return f"{n} {R.choice(['Maple', 'Cedar', 'Elm', 'Lincoln'])} {R.choice(['Drive', 'Avenue', 'Street'])}, {R.choice(['Boston, MA', 'Denver, CO'])} {R.randint(10000, 99999)}"
    if lang == 'de':
        st = R.choice([f"{R.choice(['Linden', 'Goethe', 'Bahnhof', 'Schiller', 'Haupt'])}{R.choice(['straße', 'str.', 'weg', 'allee', 'platz'])}",
                       f"{R.choice(['Berliner', 'Kölner', 'Lange'])} Straße"])
        return f"{st} {n}{R.choice(['', '', 'a', 'b'])}, {R.randint(10000, 99999)} {R.choice(CITIES['de'])}"
    if lang == 'fr':
        return f"{n}{R.choice(['', ' bis'])} {R.choice(['rue', 'avenue', 'boulevard', 'place', 'impasse'])} {R.choice(['Victor Hugo', 'de la République', 'des Lilas', 'Jean Jaurès', 'du Port'])}, {R.randint(10000, 95999)} {R.choice(CITIES['fr'])}"
    if lang == 'es':
        return f"{R.choice(['Calle', 'C/', 'Avenida', 'Paseo', 'Plaza'])} {R.choice(['Mayor', 'de Alcalá', 'del Prado', 'San Vicente', 'de la Constitución'])} {n}{R.choice(['', ', 2º B', ', 3º izq.'])}, {R.randint(10000, 52999):05d} {R.choice(CITIES['es'])}"
    if lang == 'it':
        return f"{R.choice(['Via', 'Viale', 'Piazza', 'Corso'])} {R.choice(['Roma', 'Garibaldi', 'Dante Alighieri', 'Cavour', 'della Repubblica'])} {n}{R.choice(['', '/B'])}, {R.randint(10, 98000):05d} {R.choice(CITIES['it'])}"
    return f"{R.choice(['Slovenska cesta', 'Celovška cesta', 'Trubarjeva ulica', 'Prešernova ulica', 'Dunajska cesta', 'Trg svobode'])} {n}{R.choice(['', 'a'])}, {R.choice([1000, 2000, 3000, 6000])} {R.choice(CITIES['sl'])}"

MONTHS = {'en': ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"],
          'de': ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November", "Dezember"],
          'fr': ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"],
          'es': ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"],
          'it': ["gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre", "ottobre", "novembre", "dicembre"],
          'sl': ["januarja", "februarja", "marca", "aprila", "maja", "junija", "julija", "avgusta", "septembra", "oktobra", "novembra", "decembra"]}

def date(lang, year_lo, year_hi):
    d, m, y = R.randint(1, 28), R.randint(1, 12), R.randint(year_lo, year_hi)
    mo = MONTHS[lang][m - 1]
    forms = {'en': [f"{d} {mo} {y}", f"{mo} {d}, {y}", f"{m:02d}/{d:02d}/{y}", f"{y}-{m:02d}-{d:02d}"],
             'de': [f"{d:02d}.{m:02d}.{y}", f"{d}. {mo} {y}", f"{d}.{m}.{y}"],
             'fr': [f"{d:02d}/{m:02d}/{y}", f"{d} {mo} {y}"],
             'es': [f"{d:02d}/{m:02d}/{y}", f"{d} de {mo} de {y}"],
             'it': [f"{d:02d}/{m:02d}/{y}", f"{d} {mo} {y}"],
             'sl': [f"{d}. {m}. {y}", f"{d}. {mo} {y}", f"{d:02d}.{m:02d}.{y}"]}[lang]
    return R.choice(forms)

def email(g, s):
    import unicodedata
    a = lambda x: unicodedata.normalize('NFKD', x).encode('ascii', 'ignore').decode().lower().replace(' ', '')
    return f"{a(g)}.{a(s)}@{R.choice(['example.com', 'mail.example.org', 'kunde.example.de'])}"

def phone(lang):
    cc = {'en': '+44', 'de': '+49', 'fr': '+33', 'es': '+34', 'it': '+39', 'sl': '+386'}[lang]
    return f"{cc} {R.randint(10, 99)} {R.randint(100, 999)} {R.randint(1000, 9999)}"

IDS = {'de': [de_taxid], 'fr': [fr_insee], 'es': [es_dni, es_nie], 'it': [it_cf], 'en': [uk_nino], 'sl': [si_emso]}
COMPANY = ["Globex", "Initech", "Umbrella Logistics", "Northwind", "Contoso", "Acme Cloud"]

# ---- templates --------------------------------------------------------------------------
# Slots: {NAME} full name, {NAME2} a second person, {GIVEN} given name of {NAME}, {SUR} its
# surname, {ADDR}, {DOB}, {CARD}, {CVC}, {NID}; unlabelled fillers: {EMAIL} {PHONE} {DATE}
# {CITY} {COMPANY} {ORDER} {NUM3}. Lines starting with "H|" are held-out templates.
T = {}
T['en'] = r"""ticket|Summarize this support ticket. From: {NAME} <{EMAIL}>. Hi team, my order {ORDER} from {DATE} never arrived at {ADDR}. Please call me on {PHONE}. Thanks, {GIVEN}
crm|CRM note: spoke with {NAME} (purchasing lead at {COMPANY}) about renewal. She prefers e-mail. Follow up with Mr {SUR2} from their finance team next week.
form|Name: {NAME}\nDate of birth: {DOB}\nAddress: {ADDR}\nNational Insurance number: {NID}\nPlease check whether this applicant is eligible for the premium plan.
email|Translate to French:\n\nDear Ms {SUR},\nthank you for your payment. We charged the card {CARD} (CVC {CVC}) on {DATE}. Kind regards,\n{NAME2}
chat|[10:02] {GIVEN}: hey, can you update my billing address to {ADDR}?\n[10:03] agent: sure, what is the account holder's date of birth?\n[10:04] {GIVEN}: born {DOB}, account is under {NAME}
ticket|Classify the sentiment: "This is the third time I write. {COMPANY} keeps sending letters for {NAME2} to my flat. My NI number is {NID}, please fix it. - {NAME}"
H|email|Draft a reply to this e-mail thread.\n> From: {NAME}\n> Sent: {DATE}\n> I moved to {ADDR} and my new card ends in {NUM3}. Could {NAME2} resend the contract?\nBest, {GIVEN}
H|form|Extract the fields as JSON: Customer: {NAME}; DOB: {DOB}; NINO: {NID}; card: {CARD} security code {CVC}; shipping to {ADDR}.
"""
T['de'] = r"""ticket|Fasse dieses Ticket zusammen: Kundin {NAME} ({EMAIL}) schreibt, dass die Lieferung vom {DATE} nicht an {ADDR} zugestellt wurde. Rückruf unter {PHONE}. Viele Grüße, {GIVEN}
crm|CRM-Notiz: Telefonat mit Herrn {SUR} von {COMPANY}. Er möchte den Vertrag verlängern, Ansprechpartnerin in der Buchhaltung ist {NAME2}.
form|Vorname: {GIVEN}\nNachname: {SUR}\nGeburtsdatum: {DOB}\nAnschrift: {ADDR}\nSteuer-ID: {NID}\nBitte prüfe, ob der Antrag vollständig ist.
email|Übersetze ins Englische:\n\nSehr geehrte Frau {SUR},\nwir haben Ihre Kreditkarte {CARD} mit Prüfnummer {CVC} am {DATE} belastet.\nMit freundlichen Grüßen\n{NAME2}
chat|[09:14] {GIVEN}: Hallo, meine neue Adresse ist {ADDR}\n[09:15] Support: Danke! Zur Bestätigung: Ihr Geburtsdatum?\n[09:16] {GIVEN}: geboren am {DOB}, das Konto läuft auf {NAME}
ticket|Beantworte höflich: "Ich habe {NUM3} Rechnungen von {COMPANY} erhalten, obwohl ich gekündigt habe. Meine Steueridentifikationsnummer ist {NID}. Gruß {NAME}"
H|email|Schreibe eine Antwort auf diese Mail:\n> Von: {NAME}\n> Datum: {DATE}\n> Ich wohne jetzt in der {ADDR}. Kann {NAME2} mir die Unterlagen erneut schicken?\nDanke, {GIVEN}
H|form|Extrahiere als JSON: Name: {NAME}, geb. {DOB}, Steuer-ID {NID}, Karte {CARD} CVC {CVC}, Lieferadresse {ADDR}.
"""
T['fr'] = r"""ticket|Résume ce ticket : {NAME} ({EMAIL}) signale que le colis {ORDER} du {DATE} n'a pas été livré au {ADDR}. Merci de rappeler au {PHONE}. Cordialement, {GIVEN}
crm|Note CRM : rendez-vous avec M. {SUR} chez {COMPANY} pour le renouvellement. Contact comptable : {NAME2}.
form|Nom : {SUR}\nPrénom : {GIVEN}\nDate de naissance : {DOB}\nAdresse : {ADDR}\nNuméro de sécurité sociale : {NID}\nVérifie si le dossier est complet.
email|Traduis en anglais :\n\nBonjour Madame {SUR},\nnous avons débité votre carte {CARD} (cryptogramme {CVC}) le {DATE}.\nBien à vous,\n{NAME2}
chat|[11:20] {GIVEN} : bonjour, je viens de déménager au {ADDR}\n[11:21] conseiller : merci, pouvez-vous confirmer votre date de naissance ?\n[11:22] {GIVEN} : née le {DOB}, le compte est au nom de {NAME}
ticket|Classe ce message : « J'ai reçu {NUM3} relances de {COMPANY} alors que mon numéro INSEE {NID} est correct. {NAME} »
H|email|Rédige une réponse :\n> De : {NAME}\n> Date : {DATE}\n> J'habite maintenant au {ADDR}. {NAME2} peut-il renvoyer le contrat ?\nMerci, {GIVEN}
H|form|Extrais en JSON : client {NAME}, né le {DOB}, n° de sécu {NID}, carte {CARD}, CVV {CVC}, livraison {ADDR}.
"""
T['es'] = r"""ticket|Resume este ticket: {NAME} ({EMAIL}) indica que el pedido {ORDER} del {DATE} no llegó a {ADDR}. Llamar al {PHONE}. Saludos, {GIVEN}
crm|Nota CRM: reunión con el Sr. {SUR} de {COMPANY} sobre la renovación. Contacto de contabilidad: {NAME2}.
form|Nombre: {NAME}\nFecha de nacimiento: {DOB}\nDirección: {ADDR}\nDNI/NIE: {NID}\nComprueba si la solicitud está completa.
email|Traduce al inglés:\n\nEstimada Sra. {SUR}:\nhemos cargado su tarjeta {CARD} (código de seguridad {CVC}) el {DATE}.\nUn saludo,\n{NAME2}
chat|[12:40] {GIVEN}: hola, mi nueva dirección es {ADDR}\n[12:41] agente: gracias, ¿me confirma su fecha de nacimiento?\n[12:42] {GIVEN}: nací el {DOB}, la cuenta está a nombre de {NAME}
ticket|Clasifica: "Me han llegado {NUM3} cartas de {COMPANY} para otra persona. Mi DNI es {NID}. Atentamente, {NAME}"
H|email|Redacta una respuesta:\n> De: {NAME}\n> Fecha: {DATE}\n> Ahora vivo en {ADDR}. ¿Puede {NAME2} reenviarme el contrato?\nGracias, {GIVEN}
H|form|Extrae en JSON: cliente {NAME}, fecha de nacimiento {DOB}, NIE {NID}, tarjeta {CARD} CVV {CVC}, envío a {ADDR}.
"""
T['it'] = r"""ticket|Riassumi questo ticket: {NAME} ({EMAIL}) segnala che l'ordine {ORDER} del {DATE} non è arrivato in {ADDR}. Richiamare al {PHONE}. Saluti, {GIVEN}
crm|Nota CRM: incontro con il sig. {SUR} di {COMPANY} per il rinnovo. Referente amministrativa: {NAME2}.
form|Nome e cognome: {NAME}\nData di nascita: {DOB}\nIndirizzo: {ADDR}\nCodice fiscale: {NID}\nVerifica se la pratica è completa.
email|Traduci in inglese:\n\nGentile sig.ra {SUR},\nabbiamo addebitato la carta {CARD} (codice di sicurezza {CVC}) il {DATE}.\nCordiali saluti,\n{NAME2}
chat|[15:05] {GIVEN}: ciao, il mio nuovo indirizzo è {ADDR}\n[15:06] operatore: grazie, mi conferma la data di nascita?\n[15:07] {GIVEN}: nata il {DOB}, il conto è intestato a {NAME}
ticket|Classifica: "Ho ricevuto {NUM3} solleciti da {COMPANY} ma il mio codice fiscale {NID} è corretto. Distinti saluti, {NAME}"
H|email|Scrivi una risposta:\n> Da: {NAME}\n> Data: {DATE}\n> Ora abito in {ADDR}. {NAME2} può rimandarmi il contratto?\nGrazie, {GIVEN}
H|form|Estrai in JSON: cliente {NAME}, nato il {DOB}, CF {NID}, carta {CARD} CVV {CVC}, spedizione a {ADDR}.
"""
T['sl'] = r"""ticket|Povzemi ta zahtevek: {NAME} ({EMAIL}) sporoča, da naročilo {ORDER} z dne {DATE} ni prispelo na {ADDR}. Pokličite na {PHONE}. Lep pozdrav, {GIVEN}
crm|CRM opomba: sestanek z g. {SUR} iz podjetja {COMPANY} glede podaljšanja. Kontakt v računovodstvu: {NAME2}.
form|Ime in priimek: {NAME}\nDatum rojstva: {DOB}\nNaslov: {ADDR}\nEMŠO: {NID}\nPreveri, ali je vloga popolna.
email|Prevedi v angleščino:\n\nSpoštovana ga. {SUR},\nvašo kartico {CARD} (varnostna koda {CVC}) smo bremenili {DATE}.\nLep pozdrav,\n{NAME2}
chat|[08:30] {GIVEN}: živjo, moj novi naslov je {ADDR}\n[08:31] podpora: hvala, prosim potrdite datum rojstva\n[08:32] {GIVEN}: rojena {DOB}, račun je na ime {NAME}
ticket|Razvrsti: "Od {COMPANY} sem prejel {NUM3} opominov, moj EMŠO {NID} pa je pravilen. Lp, {NAME}"
H|email|Napiši odgovor:\n> Od: {NAME}\n> Datum: {DATE}\n> Zdaj živim na naslovu {ADDR}. Ali mi lahko {NAME2} ponovno pošlje pogodbo?\nHvala, {GIVEN}
H|form|Izvleci v JSON: stranka {NAME}, rojen {DOB}, EMŠO {NID}, kartica {CARD} CVC {CVC}, dostava na {ADDR}.
"""

def render(lang, tpl, held):
    g, s = person(lang, held)
    g2, s2 = person(lang, held or R.random() < 0.3)
    vals = {
        'NAME': (f"{g} {s}", 'NAME'), 'NAME2': (f"{g2} {s2}", 'NAME'), 'GIVEN': (g, 'NAME'), 'SUR': (s, 'NAME'),
        'SUR2': (s2, 'NAME'), 'ADDR': (address(lang), 'ADDRESS'), 'DOB': (date(lang, 1940, 2005), 'DOB'),
        'CARD': (luhn_card(), 'CARD'), 'CVC': (f"{R.randint(100, 999)}" if R.random() < 0.85 else f"{R.randint(1000, 9999)}", 'CVC'),
        'NID': (R.choice(IDS[lang])(), 'NATIONAL_ID'), 'EMAIL': (email(g, s), 'EMAIL'), 'PHONE': (phone(lang), 'PHONE'),
        'DATE': (date(lang, 2023, 2026), None), 'CITY': (R.choice(CITIES[lang]), None), 'COMPANY': (R.choice(COMPANY), None),
        'ORDER': (f"#{R.randint(100000, 999999)}", None), 'NUM3': (str(R.randint(2, 999)), None),
    }
    out = b""; spans = []; i = 0
    tpl = tpl.replace('\\n', '\n')
    while i < len(tpl):
        j = tpl.find('{', i)
        if j < 0:
            out += tpl[i:].encode(); break
        out += tpl[i:j].encode()
        k = tpl.index('}', j)
        v, label = vals[tpl[j + 1:k]]
        if label:
            spans.append({'start': len(out), 'end': len(out) + len(v.encode()), 'label': label})
        out += v.encode()
        i = k + 1
    return out.decode(), spans

def main():
    rows = []
    for lang in ['en', 'de', 'fr', 'es', 'it', 'sl']:
        for tline in T[lang].strip().split('\n'):
            held = tline.startswith('H|')
            kind, tpl = (tline[2:] if held else tline).split('|', 1)
            for _ in range(6 if held else 4):
                text, spans = render(lang, tpl, held)
                rows.append({'id': f"{lang}-{len(rows):03d}", 'lang': lang, 'kind': kind,
                             'split': 'heldout' if held else 'dev', 'text': text, 'spans': spans})
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'prompts.jsonl')
    with open(path, 'w', encoding='utf-8') as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + '\n')
    print(len(rows), 'prompts,', sum(len(r['spans']) for r in rows), 'spans ->', path)

if __name__ == '__main__':
    main()
