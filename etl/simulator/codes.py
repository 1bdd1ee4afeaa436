"""Control codes and their French texts, per endpoint (quirk 15: the same code means different
things on different endpoints; quirk 14: texts are French whatever the page language)."""

from __future__ import annotations

COMMON = {
    1: "La Clé API est requise",
    9: "Erreur de validation",
    10: "Clé API incorrecte",
    50: "Vous ne pouvez pas envoyer plus de 500 numéros",
    90: "JSON invalide",
    429: "Trop de requêtes",
}

PER_ENDPOINT: dict[str, dict[int, str]] = {
    "send": {
        2: "Le numéro de téléphone est requis",
        9: "Erreur de validation",
        11: "Crédit insuffisant",
        14: "Numéro dans la liste STOP",
        52: "Le message dépasse 10 SMS concaténés",
    },
    "message-status": {2: "Le numéro de téléphone est requis", 3: "L'ID du message est requis", 4: "Message introuvable"},
    "multi-status": {2: "Le numéro de téléphone est requis", 3: "L'ID du message est requis", 4: "Numéro introuvable"},
    "bulk-status": {3: "L'ID du message est requis", 4: "Message introuvable"},
    "bulk-status-by-tag": {3: "Le tag est requis", 4: "Tag introuvable"},
    "message-cancel": {
        3: "L'ID du message est requis",
        4: "Message introuvable",
        5: "L'envoi du SMS a déjà été annulé",
        6: "Impossible d'annuler l'envoi d'un SMS moins de 5 minutes avant son envoi",
        7: "Impossible d'annuler un SMS déjà envoyé",
    },
    "stop-sms/add": {2: "Le numéro de téléphone est requis", 3: "Le numéro est déjà dans la liste STOP", 9: "Numéro invalide"},
    "stop-sms/delete": {3: "L'ID du numéro est requis", 4: "L'ID du numéro est introuvable"},
    "location/status": {31: "Le token de la location est requis", 32: "Location introuvable"},
    "location/file/download": {
        31: "Le token de la location est requis",
        32: "Location introuvable",
        33: "Fichier introuvable",
        34: "Fichier déjà utilisé",
        35: "Téléchargement en cours",
        36: "La location a échoué",
    },
    "subaccount/create": {
        2: "Vous n'êtes pas autorisé à créer des sous-comptes",
        3: "Le paramètre isBuyer est requis",
        4: "Le type est requis",
        5: "Type inconnu",
        6: "L'email est requis",
        7: "Un compte utilise déjà cet email",
        8: "creditToAttribute doit être supérieur à 0",
        9: "Le solde doit être supérieur à 0",
    },
    "subaccount/remove": {1: "Le token est requis", 10: "La Clé API est requise", 404: "Sous-compte introuvable"},
    "subaccount/credit/add": {
        2: "Le crédit est requis",
        3: "L'identifiant du sous-compte est requis",
        4: "Opération non autorisée",
        5: "Le crédit doit être supérieur à 0",
        6: "Le solde doit être supérieur à 0",
        7: "Sous-compte introuvable",
        8: "Crédit insuffisant",
    },
    "group/add": {1: "Le nom est requis", 2: "La Clé API est requise"},
    "group/list": {10: "La Clé API est requise"},
    "group/delete": {1: "L'ID du groupe est requis", 10: "La Clé API est requise", 404: "Le groupe n'existe pas"},
    "contact/add": {
        1: "L'ID du groupe est requis",
        2: "Les données du contact sont requises",
        9: "Numéro invalide",
        10: "La Clé API est requise",
        15: "Le numéro existe déjà dans ce groupe",
        404: "Le groupe n'existe pas",
    },
    "contact/update": {
        1: "L'ID du contact est requis",
        2: "Les données du contact sont requises",
        9: "Numéro invalide",
        10: "La Clé API est requise",
        15: "Le numéro existe déjà dans ce groupe",
        404: "Contact introuvable",
    },
    "contact/delete": {1: "L'ID du contact est requis", 10: "La Clé API est requise", 404: "Contact introuvable"},
    "contact/detail": {1: "L'ID du contact est requis", 10: "La Clé API est requise", 404: "Contact introuvable"},
    "contact/list": {1: "L'ID du groupe est requis", 10: "La Clé API est requise", 404: "Le groupe n'existe pas"},
    "hlr/notify": {2: "Le numéro est requis", 3: "Les numéros doivent être séparés par des virgules", 11: "Crédit insuffisant"},
    "lookup": {2: "Le numéro est requis", 3: "Les numéros doivent être séparés par des virgules"},
}
PER_ENDPOINT["bulk-send"] = PER_ENDPOINT["send"]
PER_ENDPOINT["subaccount/credit/remove"] = PER_ENDPOINT["subaccount/credit/add"]
PER_ENDPOINT["groupe/delete"] = PER_ENDPOINT["group/delete"]


def text(endpoint: str, code: int) -> str:
    return PER_ENDPOINT.get(endpoint, {}).get(code) or COMMON.get(code) or f"Erreur {code}"


class ApiFailure(Exception):
    """An application error the API reports as success:false (never a transport fault)."""

    def __init__(self, code: int, message: str | None = None, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.errors = errors
